using SemCache.LoadTool.Data;
using SemCache.LoadTool.Load;
using SemCache.LoadTool.Quality;
using SemCache.LoadTool.Reports;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// gptcache: GPTCache's own published benchmark run through SemCache. Its 999 pairs of a sentence and its rewording:
/// store every first sentence, look every rewording up once, count correct hits (its own pair's sentence), wrong hits
/// and misses, and set the counts beside GPTCache's published ones.
/// </summary>
internal static class GptCacheCommand
{
    /// <summary>
    /// GPTCache's published results on examples/benchmark/mock_data.json (its README's benchmark table):
    /// threshold, correct hits, wrong hits, misses.
    /// </summary>
    public static readonly IReadOnlyList<(float Threshold, int Correct, int Wrong, int Misses)> Published =
    [
        (0.95f, 425, 25, 549),
        (0.90f, 804, 77, 118),
        (0.80f, 904, 92, 3),
    ];

    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        Flags flags = Flags.Parse(args, "no-progress", "keep-namespace", "no-check");
        using BenchContext context = BenchContext.Create("gptcache", args, flags);
        IReadOnlyList<LabelledPair> pairs = context.ReadPairs(DataFiles.GptCacheParaphrases, null);
        bool check = !flags.Switch("no-check");
        LoadShape shape = context.ReadShape(pairs.Count, 0);
        TimeSpan warmup = context.ReadWarmup();
        flags.ThrowOnUnused();

        Dictionary<string, string> ids = await context.PreloadAsync(pairs.Select(p => p.First), cancellationToken).ConfigureAwait(false);
        var latencies = new LatencyRecorder();
        ScoredQuery[] scored = await PairQueries.RunAsync(context, "nearest-entry lookups", pairs, ids, -1f, 1, shape, warmup, latencies, null, cancellationToken).ConfigureAwait(false);
        IReadOnlyList<CurvePoint> curve = QualityCurve.Sweep(scored);

        var rows = new List<GptCacheComparisonRow>();
        foreach ((float threshold, int correct, int wrong, int misses) in Published)
        {
            CurvePoint? equal = QualityCurve.AtMostWrongHits(curve, wrong);
            // The offline sweep predicts what a Get with that min_similarity answers; --no-check skips proving it.
            QualityCounts? measuredSame = check ? await PairQueries.MeasureAtAsync(context, pairs, ids, threshold, shape.Concurrency, cancellationToken).ConfigureAwait(false) : null;
            QualityCounts? measuredEqual = check && equal is not null ? await PairQueries.MeasureAtAsync(context, pairs, ids, equal.Threshold, shape.Concurrency, cancellationToken).ConfigureAwait(false) : null;
            rows.Add(new GptCacheComparisonRow(threshold, correct, wrong, misses, QualityCurve.CountsAt(scored, threshold), measuredSame, equal, measuredEqual));
        }

        context.Result.GptCache = new GptCacheReport(context.Result.Settings["pairs"], pairs.Count, ids.Count, rows);
        context.Result.Notes.Add("GPTCache's figures are its published ones (not re-run here); its threshold is on its own similarity scale, so the fair comparison is at equal wrong hits.");
        context.Result.Notes.Add($"{pairs.Count - ids.Count} rows repeat an earlier first sentence: they share one entry, and a hit on it counts as correct for each.");
        if (check)
        {
            context.Result.Notes.Add("Each SemCache count was measured by a pass of Gets with that min_similarity; the offline sweep's prediction is in result.json.");
        }

        LookupLog.Write(Path.Combine(context.OutDirectory, "lookups.tsv"), pairs, scored);
        context.Result.Files.Add("lookups.tsv");
        Charts.CorrectVersusWrong(Path.Combine(context.OutDirectory, "correct-vs-wrong.png"), curve, "GPTCache benchmark (999 pairs): correct against wrong hits", "GPTCache (published)", Published.Select(p => (p.Threshold, p.Correct, p.Wrong)));
        Charts.PrecisionRecall(Path.Combine(context.OutDirectory, "precision-recall.png"), CalibrateCommand.Thin(curve, 2000), "GPTCache benchmark: SemCache precision and recall against threshold", rows.Where(r => r.SemCacheAtEqualWrongHits is not null).Select(r => ($"≤ {r.GptCacheWrong} wrong", r.SemCacheAtEqualWrongHits!.Threshold)));
        context.Result.Files.Add("correct-vs-wrong.png");
        context.Result.Files.Add("precision-recall.png");
        return await context.FinishAsync(latencies).ConfigureAwait(false);
    }
}
