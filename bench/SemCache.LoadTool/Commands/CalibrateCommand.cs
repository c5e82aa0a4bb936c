using System.Globalization;
using SemCache.LoadTool.Data;
using SemCache.LoadTool.Load;
using SemCache.LoadTool.Quality;
using SemCache.LoadTool.Reports;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// calibrate: "which threshold should I use?" Preload q1, look every q2 up once with no threshold (min_similarity -1,
/// top_k 1: the nearest entry and its similarity come back), then sweep every threshold offline.
/// </summary>
internal static class CalibrateCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        Flags flags = Flags.Parse(args, "no-progress", "keep-namespace");
        using BenchContext context = BenchContext.Create("calibrate", args, flags);
        IReadOnlyList<LabelledPair> pairs = context.ReadPairs(DataFiles.QqpDev, null);
        double target = flags.Double("target-precision", 0.95);
        double minRecall = flags.Double("min-recall", 0.01);
        LoadShape shape = context.ReadShape(pairs.Count, 0);
        TimeSpan warmup = context.ReadWarmup();
        flags.ThrowOnUnused();
        context.Result.Settings["target_precision"] = target.ToString(CultureInfo.InvariantCulture);
        context.Result.Settings["min_recall"] = minRecall.ToString(CultureInfo.InvariantCulture);

        Dictionary<string, string> ids = await context.PreloadAsync(pairs.Select(p => p.First), cancellationToken).ConfigureAwait(false);
        var latencies = new LatencyRecorder();
        ScoredQuery[] scored = await PairQueries.RunAsync(context, "nearest-entry lookups", pairs, ids, -1f, 1, shape, warmup, latencies, null, cancellationToken).ConfigureAwait(false);

        IReadOnlyList<CurvePoint> curve = QualityCurve.Sweep(scored);
        CurvePoint? forTarget = QualityCurve.ForTargetPrecision(curve, target, minRecall);
        CurvePoint? mostPrecise = QualityCurve.MostPrecise(curve, minRecall);
        CurvePoint? bestF1 = QualityCurve.BestF1(curve);
        IReadOnlyList<CurvePoint> grid = QualityCurve.Grid(scored, 0.5f, 0.01f);
        int identical = scored.Count(s => s.Similarity is not null && s.MatchedIdenticalText);
        context.Result.Calibration = new CalibrationReport(context.Result.Settings["pairs"], pairs.Count, target, minRecall, forTarget, mostPrecise, bestF1, grid, curve.Count, identical);
        context.Result.Notes.Add("Wrong hits include questions the data set does not label as duplicates but that ask the same thing, so precision is a lower bound and the recommended threshold errs on the safe side.");
        context.Result.Notes.Add("Latency here is of Gets with min_similarity -1, which always search; it is not a load figure (use pairs or mixed).");

        var markers = new List<(string, float)>();
        if (forTarget is not null)
        {
            markers.Add(($"precision ≥ {target:0.00}", forTarget.Threshold));
        }

        if (bestF1 is not null)
        {
            markers.Add(("best F1", bestF1.Threshold));
        }

        LookupLog.Write(Path.Combine(context.OutDirectory, "lookups.tsv"), pairs, scored);
        context.Result.Files.Add("lookups.tsv");
        Charts.PrecisionRecall(Path.Combine(context.OutDirectory, "precision-recall.png"), Thin(curve, 2000), $"calibrate: precision and recall against threshold ({pairs.Count:N0} rows)", markers);
        context.Result.Files.Add("precision-recall.png");
        return await context.FinishAsync(latencies).ConfigureAwait(false);
    }

    /// <summary>At most about <paramref name="most"/> points of a long curve, evenly spaced along it, ends kept: enough for a chart.</summary>
    internal static IReadOnlyList<CurvePoint> Thin(IReadOnlyList<CurvePoint> curve, int most)
    {
        if (curve.Count <= most)
        {
            return curve;
        }

        int step = (int)Math.Ceiling(curve.Count / (double)most);
        var thinned = new List<CurvePoint>();
        for (int i = 0; i < curve.Count; i += step)
        {
            thinned.Add(curve[i]);
        }

        if (thinned[^1] != curve[^1])
        {
            thinned.Add(curve[^1]);
        }

        return thinned;
    }
}
