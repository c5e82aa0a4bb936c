using ScottPlot;
using SemCache.LoadTool.Quality;

namespace SemCache.LoadTool.Reports;

/// <summary>The PNG charts, drawn with ScottPlot.</summary>
internal static class Charts
{
    private const int Width = 960;
    private const int Height = 540;

    /// <summary>
    /// HdrHistogram's percentile-distribution plot: latency against percentile on a log "nines" axis (x = log10 of
    /// 1 / (1 - p)), so p50, p90, p99 and p99.9 are evenly spaced and the tail is as readable as the median.
    /// </summary>
    /// <param name="path">PNG file to write.</param>
    /// <param name="distribution">(percentile, latency) points, as <see cref="Load.LatencyRecorder.Distribution"/> gives them.</param>
    /// <param name="totalCount">Latencies recorded: the 100th percentile is drawn at 1 - 1/count, the data's own resolution.</param>
    /// <param name="title">Chart title.</param>
    public static void LatencyDistribution(string path, IReadOnlyList<(double Percentile, long LatencyUs)> distribution, long totalCount, string title)
    {
        ArgumentNullException.ThrowIfNull(distribution);
        var plot = new Plot();
        long count = distribution.Count;
        double maxNines = 0;
        var xs = new List<double>();
        var ys = new List<double>();
        foreach ((double percentile, long latencyUs) in distribution)
        {
            // The last point is the 100th percentile, infinitely far on this axis: draw it where the data's resolution
            // ends (1 - 1/count), so the maximum still shows and the axis is not stretched past what was measured.
            double fraction = Math.Min(percentile / 100.0, 1.0 - (1.0 / Math.Max(totalCount, 2)));
            double nines = Math.Log10(1.0 / (1.0 - fraction));
            xs.Add(nines);
            ys.Add(latencyUs / 1000.0);
            maxNines = Math.Max(maxNines, nines);
        }

        if (count > 0)
        {
            var line = plot.Add.ScatterLine(xs.ToArray(), ys.ToArray());
            line.LineWidth = 2;
            line.LegendText = "latency";
        }

        string[] labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"];
        int ticks = Math.Clamp((int)Math.Ceiling(maxNines), 3, labels.Length - 1);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            [.. Enumerable.Range(0, ticks + 1).Select(i => (double)i)],
            labels[..(ticks + 1)]);
        plot.Axes.SetLimitsX(0, ticks);
        plot.Axes.Bottom.Label.Text = "percentile";
        plot.Axes.Left.Label.Text = "latency (ms)";
        plot.Axes.SetLimitsY(0, ys.Count == 0 ? 1 : ys.Max() * 1.1);
        plot.Title(title);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>Precision, recall and F1 against the threshold, with the chosen thresholds marked.</summary>
    public static void PrecisionRecall(string path, IReadOnlyList<CurvePoint> curve, string title, IEnumerable<(string Label, float Threshold)> markers)
    {
        ArgumentNullException.ThrowIfNull(curve);
        ArgumentNullException.ThrowIfNull(markers);
        var plot = new Plot();
        CurvePoint[] points = [.. curve.OrderBy(p => p.Threshold)];
        double[] thresholds = points.Select(p => (double)p.Threshold).ToArray();
        if (points.Length > 0)
        {
            var precision = plot.Add.ScatterLine(thresholds, points.Select(p => p.Counts.Precision).ToArray());
            precision.LegendText = "precision";
            precision.LineWidth = 2;
            var recall = plot.Add.ScatterLine(thresholds, points.Select(p => p.Counts.Recall).ToArray());
            recall.LegendText = "recall";
            recall.LineWidth = 2;
            var f1 = plot.Add.ScatterLine(thresholds, points.Select(p => p.Counts.F1).ToArray());
            f1.LegendText = "F1";
            f1.LinePattern = LinePattern.Dashed;
        }

        var markerThresholds = new List<double>();
        foreach ((string label, float threshold) in markers)
        {
            markerThresholds.Add(threshold);
            var line = plot.Add.VerticalLine(threshold);
            line.LinePattern = LinePattern.Dotted;
            line.LegendText = $"{label} ({threshold:0.000})";
        }

        plot.Axes.Bottom.Label.Text = "threshold (cosine similarity)";
        plot.Axes.Left.Label.Text = "precision / recall / F1";
        plot.Axes.SetLimitsY(0, 1.05);
        double[] xs = [.. thresholds, .. markerThresholds];
        if (xs.Length > 0)
        {
            plot.Axes.SetLimitsX(Math.Max(xs.Min() - 0.005, 0.3), 1.0);
        }

        plot.ShowLegend(Alignment.LowerLeft);
        plot.Title(title);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>Correct hits against wrong hits as the threshold moves, with another cache's published points.</summary>
    public static void CorrectVersusWrong(string path, IReadOnlyList<CurvePoint> curve, string title, string othersName, IEnumerable<(float Threshold, int Correct, int Wrong)> others)
    {
        ArgumentNullException.ThrowIfNull(curve);
        ArgumentNullException.ThrowIfNull(others);
        var plot = new Plot();
        CurvePoint[] points = [.. curve.OrderBy(p => p.Counts.Wrong)];
        if (points.Length > 0)
        {
            var semcache = plot.Add.ScatterLine(points.Select(p => (double)p.Counts.Wrong).ToArray(), points.Select(p => (double)p.Counts.Correct).ToArray());
            semcache.LegendText = "SemCache (every threshold)";
            semcache.LineWidth = 2;
        }

        var published = others.ToArray();
        var marks = plot.Add.ScatterPoints(published.Select(o => (double)o.Wrong).ToArray(), published.Select(o => (double)o.Correct).ToArray());
        marks.LegendText = othersName;
        marks.MarkerSize = 10;
        foreach (var (threshold, correct, wrong) in published)
        {
            var text = plot.Add.Text($"threshold {threshold:0.00}", wrong, correct);
            text.LabelFontSize = 11;
        }

        plot.Axes.Bottom.Label.Text = "wrong hits";
        plot.Axes.Left.Label.Text = "correct hits";
        int maxWrong = Math.Max(published.Length == 0 ? 0 : published.Max(o => o.Wrong), 10);
        plot.Axes.SetLimitsX(0, maxWrong * 1.5);
        plot.Axes.SetLimitsY(0, curve.Count == 0 ? 1 : curve[0].Counts.Queries);
        plot.ShowLegend(Alignment.LowerRight);
        plot.Title(title);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>
    /// The side-by-side table as bars: each row's ratio SemCache / peer, green where its goal is met and red where not,
    /// with the goal drawn as a black line across its bar. Rows without a ratio (the knee, an unmeasured peer) are left out.
    /// </summary>
    public static void SideBySideRatios(string path, IReadOnlyList<SideBySide.ComparisonRow> rows, string title)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var plot = new Plot();
        var ticks = new List<(double Position, string Label)>();
        double top = 1;
        int position = 0;
        foreach (SideBySide.ComparisonRow row in rows)
        {
            if (row.Ratio is not double ratio)
            {
                continue;
            }

            var bar = new Bar
            {
                Position = position,
                Value = ratio,
                FillColor = row.Met == true ? Colors.SeaGreen : Colors.IndianRed,
                Label = $"{ratio:0.00}×",
            };
            plot.Add.Bars(new[] { bar });
            var goal = plot.Add.Line(position - 0.45, row.Goal.Ratio, position + 0.45, row.Goal.Ratio);
            goal.LineWidth = 3;
            goal.LineColor = Colors.Black;
            ticks.Add((position, ShortName(row)));
            top = Math.Max(top, Math.Max(ratio, row.Goal.Ratio));
            position++;
        }

        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual([.. ticks.Select(t => t.Position)], [.. ticks.Select(t => t.Label)]);
        plot.Axes.Left.Label.Text = "SemCache / peer (×)";
        plot.Axes.SetLimitsY(0, top * 1.2);
        plot.Axes.SetLimitsX(-0.6, Math.Max(position, 1) - 0.4);
        plot.Title(title);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>The knee search: Get p50 and p99 (and achieved rate) against the fixed rate of each step, the knee marked.</summary>
    public static void Knee(string path, IReadOnlyList<SideBySide.KneeStep> steps, double? kneeRate, string title)
    {
        ArgumentNullException.ThrowIfNull(steps);
        var plot = new Plot();
        double[] rates = [.. steps.Select(s => s.TargetRate)];
        var p50 = plot.Add.Scatter(rates, steps.Select(s => s.Get.P50Us / 1000.0).ToArray());
        p50.LegendText = "Get p50 (ms)";
        p50.LineWidth = 2;
        var p99 = plot.Add.Scatter(rates, steps.Select(s => s.Get.P99Us / 1000.0).ToArray());
        p99.LegendText = "Get p99 (ms)";
        p99.LineWidth = 2;
        var bound = plot.Add.Scatter(rates, steps.Select(s => SideBySide.KneeSearch.TailBound * s.Get.P50Us / 1000.0).ToArray());
        bound.LegendText = $"{SideBySide.KneeSearch.TailBound:0}× p50 (the bound)";
        bound.LinePattern = LinePattern.Dotted;
        if (kneeRate is double knee)
        {
            var line = plot.Add.VerticalLine(knee);
            line.LinePattern = LinePattern.Dashed;
            line.LegendText = $"knee {knee:0}/s";
        }

        plot.Axes.Bottom.Label.Text = "fixed rate (requests/s, open loop)";
        plot.Axes.Left.Label.Text = "latency from the intended send time (ms)";
        plot.Axes.SetLimitsY(0, steps.Count == 0 ? 1 : steps.Max(s => s.Get.P99Us) / 1000.0 * 1.15);
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Title(title);
        plot.SavePng(path, Width, Height);
    }

    private static string ShortName(SideBySide.ComparisonRow row) => row.Workload switch
    {
        string w when w.StartsWith("32 concurrent", StringComparison.Ordinal) => "32 Gets vs batch-32",
        string w when w.StartsWith("one Get", StringComparison.Ordinal) => "Get p50 vs transformers.js",
        string w when w.StartsWith("Embed RPC", StringComparison.Ordinal) => "Embed p50 vs Get p50",
        string w when w.StartsWith("SetMany", StringComparison.Ordinal) => "SetMany vs batch-32",
        string w when w.StartsWith("exact Gets", StringComparison.Ordinal) => "exact vs Redis, c" + w[(w.LastIndexOf(',') + 2)..].Replace(" connections", string.Empty, StringComparison.Ordinal),
        string w => w.Length > 20 ? w[..20] : w,
    };
}
