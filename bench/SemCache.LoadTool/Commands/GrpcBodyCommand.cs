using Google.Protobuf;
using SemCache.LoadTool.Data;
using SemCache.LoadTool.Load;
using SemCache.Protocol.V1;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// grpc-body: writes the gRPC-framed body of a Get for one stored prompt (--prompt TEXT, or line --line N of --texts
/// FILE) in --namespace, for h2load -d. h2load sees only HTTP statuses, and a gRPC error is an HTTP 200 with a
/// grpc-status trailer, so the same request is first sent once for real and must come back as an exact hit.
/// </summary>
internal static class GrpcBodyCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        Flags flags = Flags.Parse(args);
        string server = flags.String("server") ?? $"http://127.0.0.1:{flags.Int("port", 50051)}";
        string ns = flags.String("namespace") ?? throw new UsageException("grpc-body needs --namespace NS (where the prompt is stored)");
        string? prompt = flags.String("prompt");
        string? textsFile = flags.String("texts");
        int line = flags.Int("line", 0);
        string outFile = flags.String("out") ?? throw new UsageException("grpc-body needs --out FILE");
        flags.ThrowOnUnused();
        if ((prompt is null) == (textsFile is null))
        {
            throw new UsageException("give --prompt TEXT or --texts FILE [--line N], one of them");
        }

        prompt ??= TextSets.Slice(TextSets.ReadFile(textsFile!), line, 1, textsFile!)[0];
        var request = new GetRequest { Namespace = ns, Prompt = prompt, TopK = 1 };
        using var connection = new CacheConnection(new Uri(server));
        GetResponse response = await connection.Client.GetAsync(request, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!response.Hit || !response.Matches[0].Exact)
        {
            Console.Error.WriteLine($"semcache-bench: '{prompt}' is not an exact hit in namespace '{ns}' (hit: {response.Hit}): store it first");
            return 1;
        }

        byte[] body = GrpcFrame.Frame(request);
        File.WriteAllBytes(outFile, body);
        Console.WriteLine($"{outFile}: {body.Length} bytes (GetRequest of {request.CalculateSize()} bytes); the real call was an exact hit with a {response.CalculateSize()}-byte answer");
        return 0;
    }
}
