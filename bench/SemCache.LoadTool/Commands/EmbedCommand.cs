using SemCache.LoadTool.Load;
using SemCache.Protocol.V1;

namespace SemCache.LoadTool.Commands;

/// <summary>embed: the Embed RPC, one text per call, for each text of a slice of a texts file (once each).</summary>
internal static class EmbedCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        Flags flags = Flags.Parse(args, "no-progress", "keep-namespace");
        using BenchContext context = BenchContext.Create("embed", args, flags);
        IReadOnlyList<string> texts = TextSlice.Read(context);
        LoadShape shape = context.ReadShape(texts.Count, 0);
        TimeSpan warmup = context.ReadWarmup();
        flags.ThrowOnUnused();
        var client = context.Connection.Client;
        var latencies = new LatencyRecorder();
        await context.RunLoadAsync(
            "Embed, one text a call",
            shape,
            warmup,
            async (sequence, token) => await client.EmbedAsync(new EmbedRequest { Texts = { $"{texts[(int)(sequence % texts.Count)]} (warm-up {sequence})" } }, cancellationToken: token).ConfigureAwait(false),
            async (sequence, token) => await client.EmbedAsync(new EmbedRequest { Texts = { texts[(int)sequence] } }, cancellationToken: token).ConfigureAwait(false),
            latencies,
            cancellationToken).ConfigureAwait(false);
        return await context.FinishAsync(latencies).ConfigureAwait(false);
    }
}
