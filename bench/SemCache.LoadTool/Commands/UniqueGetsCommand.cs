using SemCache.LoadTool.Load;
using SemCache.Protocol.V1;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// unique-gets: one Get for each text of a slice of a texts file, none stored and none sent twice, against a namespace
/// preloaded by <c>preload</c>: every Get runs the model and searches the index, as a new question does. No
/// threshold is sent (the server's default applies); a semantic hit costs the same as a miss.
/// </summary>
internal static class UniqueGetsCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        Flags flags = Flags.Parse(args, "no-progress", "keep-namespace");
        using BenchContext context = BenchContext.Create("unique-gets", args, flags);
        IReadOnlyList<string> texts = TextSlice.Read(context);
        LoadShape shape = context.ReadShape(texts.Count, 0);
        TimeSpan warmup = context.ReadWarmup();
        flags.ThrowOnUnused();
        var client = context.Connection.Client;
        StatsResponse stats = await client.StatsAsync(new StatsRequest { Namespace = context.Namespace }, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (stats.Entries == 0)
        {
            throw new UsageException($"namespace '{context.Namespace}' holds no entries: run semcache-bench preload into it first");
        }

        context.Result.Settings["entries_stored"] = stats.Entries.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var latencies = new LatencyRecorder();
        var tally = new HitTally();
        string ns = context.Namespace;
        await context.RunLoadAsync(
            "Gets of new prompts",
            shape,
            warmup,
            // The warm-up's texts carry a suffix: the same path, and never the text of a measured Get.
            async (sequence, token) => await client.GetAsync(new GetRequest { Namespace = ns, Prompt = $"{texts[(int)(sequence % texts.Count)]} (warm-up {sequence})" }, cancellationToken: token).ConfigureAwait(false),
            async (sequence, token) => tally.Count(await client.GetAsync(new GetRequest { Namespace = ns, Prompt = texts[(int)sequence] }, cancellationToken: token).ConfigureAwait(false)),
            latencies,
            cancellationToken).ConfigureAwait(false);
        context.Result.Hits = tally.ToReport();
        if (context.Result.Hits.ExactHits > 0)
        {
            context.Result.Notes.Add($"{context.Result.Hits.ExactHits} Gets were exact hits: the texts file overlaps the stored entries, and those Gets skipped the model.");
        }

        return await context.FinishAsync(latencies).ConfigureAwait(false);
    }
}
