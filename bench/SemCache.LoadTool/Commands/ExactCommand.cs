using System.Globalization;
using SemCache.LoadTool.Data;
using SemCache.LoadTool.Load;
using SemCache.Protocol.V1;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// exact: preload a set of prompts, then look them up again verbatim, round-robin: the exact layer's cost (normalise,
/// hash, one store read; no model run) under load.
/// </summary>
internal static class ExactCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        Flags flags = Flags.Parse(args, "no-progress", "keep-namespace", "exact-only");
        using BenchContext context = BenchContext.Create("exact", args, flags);
        IReadOnlyList<LabelledPair> pairs = context.ReadPairs(DataFiles.QqpDev, 1000);
        bool exactOnly = flags.Switch("exact-only");
        uint topK = (uint)flags.Int("top-k", 1);
        LoadShape shape = context.ReadShape(null, 10);
        TimeSpan warmup = context.ReadWarmup();
        flags.ThrowOnUnused();
        context.Result.Settings["exact_only"] = exactOnly.ToString(CultureInfo.InvariantCulture);
        context.Result.Settings["top_k"] = topK.ToString(CultureInfo.InvariantCulture);

        Dictionary<string, string> ids = await context.PreloadAsync(pairs.Select(p => p.First), cancellationToken).ConfigureAwait(false);
        string[] prompts = [.. ids.Keys];
        var client = context.Connection.Client;
        var latencies = new LatencyRecorder();
        var tally = new HitTally();
        GetRequest RequestFor(long sequence) => new() { Namespace = context.Namespace, Prompt = prompts[sequence % prompts.Length], TopK = topK, ExactOnly = exactOnly };
        await context.RunLoadAsync(
            "exact lookups",
            shape,
            warmup,
            async (sequence, token) => await client.GetAsync(RequestFor(sequence), cancellationToken: token).ConfigureAwait(false),
            async (sequence, token) => tally.Count(await client.GetAsync(RequestFor(sequence), cancellationToken: token).ConfigureAwait(false)),
            latencies,
            cancellationToken).ConfigureAwait(false);

        context.Result.Hits = tally.ToReport();
        if (context.Result.Hits.Misses > 0 || context.Result.Hits.SemanticHits > 0)
        {
            context.Result.Notes.Add($"{context.Result.Hits.Misses} lookups of stored prompts missed and {context.Result.Hits.SemanticHits} were answered semantically: every one should be an exact hit.");
        }

        if (topK > 1 && !exactOnly)
        {
            context.Result.Notes.Add("top_k > 1 makes every lookup also run the semantic layer (an exact hit fills only one of the k places).");
        }

        return await context.FinishAsync(latencies).ConfigureAwait(false);
    }
}
