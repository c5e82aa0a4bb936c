using Google.Protobuf;
using SemCache.LoadTool.Load;
using SemCache.Protocol.V1;

namespace SemCache.LoadTool.Commands;

/// <summary>stats [--namespace NS]: the server's counters as one JSON line (protobuf JSON), for scripts.</summary>
internal static class StatsCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        Flags flags = Flags.Parse(args);
        string server = flags.String("server") ?? $"http://127.0.0.1:{flags.Int("port", 50051)}";
        string ns = flags.String("namespace", string.Empty);
        flags.ThrowOnUnused();
        using var connection = new CacheConnection(new Uri(server));
        StatsResponse stats = await connection.Client.StatsAsync(new StatsRequest { Namespace = ns }, cancellationToken: cancellationToken).ConfigureAwait(false);
        Console.WriteLine(new JsonFormatter(JsonFormatter.Settings.Default.WithFormatDefaultValues(true)).Format(stats));
        return 0;
    }
}
