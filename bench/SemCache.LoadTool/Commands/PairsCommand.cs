using System.Globalization;
using SemCache.LoadTool.Data;
using SemCache.LoadTool.Load;
using SemCache.LoadTool.Quality;
using SemCache.LoadTool.Reports;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// pairs: preload every row's q1, look each row's q2 up once at the threshold, and count correct hits, wrong hits and
/// misses, with throughput and latency of the lookups.
/// </summary>
internal static class PairsCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        Flags flags = Flags.Parse(args, "no-progress", "keep-namespace");
        using BenchContext context = BenchContext.Create("pairs", args, flags);
        IReadOnlyList<LabelledPair> pairs = context.ReadPairs(DataFiles.QqpDev, null);
        float threshold = (float)flags.Double("threshold", 0.9);
        uint topK = (uint)flags.Int("top-k", 1);
        LoadShape shape = context.ReadShape(pairs.Count, 0);
        TimeSpan warmup = context.ReadWarmup();
        flags.ThrowOnUnused();
        context.Result.Settings["threshold"] = threshold.ToString(CultureInfo.InvariantCulture);
        context.Result.Settings["top_k"] = topK.ToString(CultureInfo.InvariantCulture);

        Dictionary<string, string> ids = await context.PreloadAsync(pairs.Select(p => p.First), cancellationToken).ConfigureAwait(false);
        var latencies = new LatencyRecorder();
        var tally = new HitTally();
        ScoredQuery[] scored = await PairQueries.RunAsync(context, "pairs lookups", pairs, ids, threshold, topK, shape, warmup, latencies, tally, cancellationToken).ConfigureAwait(false);

        QualityCounts counts = QualityCurve.CountsAt(scored, float.NegativeInfinity);
        int wrongOnDuplicates = scored.Count(s => s.Similarity is not null && s.IsDuplicate && !s.MatchedExpected);
        context.Result.Hits = tally.ToReport();
        int identical = scored.Count(s => s.Similarity is not null && s.MatchedIdenticalText);
        context.Result.Quality = new PairsQualityReport(context.Result.Settings["pairs"], pairs.Count, threshold, counts, wrongOnDuplicates, counts.Wrong - wrongOnDuplicates, identical);
        context.Result.Notes.Add("Wrong hits include questions the data set does not label as duplicates but that ask the same thing, so precision is a lower bound.");

        // Every hit carries its similarity, so the curve is known for every threshold at or above the run's.
        IReadOnlyList<CurvePoint> curve = QualityCurve.Sweep(scored);
        Charts.PrecisionRecall(Path.Combine(context.OutDirectory, "precision-recall.png"), curve, $"pairs: precision and recall at thresholds ≥ {threshold:0.00} ({pairs.Count:N0} rows)", [("run threshold", threshold)]);
        context.Result.Files.Add("precision-recall.png");
        return await context.FinishAsync(latencies).ConfigureAwait(false);
    }
}
