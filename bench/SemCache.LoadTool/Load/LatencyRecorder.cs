using HdrHistogram;

namespace SemCache.LoadTool.Load;

/// <summary>Latency percentiles in microseconds.</summary>
internal sealed record LatencySummary(long Count, double MeanUs, long P50Us, long P90Us, long P99Us, long P999Us, long MaxUs);

/// <summary>
/// Per-request latencies in an HdrHistogram with microsecond resolution (1 µs to 10 min, 3 significant digits), safe
/// to record from many workers at once.
/// </summary>
internal sealed class LatencyRecorder
{
    private const long HighestTrackableUs = 10L * 60 * 1_000_000;

    public LatencyRecorder()
    {
        Histogram = new LongConcurrentHistogram(1, HighestTrackableUs, 3);
    }

    public HistogramBase Histogram { get; }

    /// <summary>Records the time from <paramref name="startTimestamp"/> (a <see cref="System.Diagnostics.Stopwatch"/> timestamp) to now.</summary>
    public void RecordSince(long startTimestamp)
    {
        RecordMicroseconds((long)System.Diagnostics.Stopwatch.GetElapsedTime(startTimestamp).TotalMicroseconds);
    }

    /// <summary>Records one latency; values outside 1 µs to 10 min are clamped rather than lost.</summary>
    public void RecordMicroseconds(long micros) => Histogram.RecordValue(Math.Clamp(micros, 1, HighestTrackableUs));

    public LatencySummary Summarize()
    {
        HistogramBase h = Histogram;
        if (h.TotalCount == 0)
        {
            return new LatencySummary(0, 0, 0, 0, 0, 0, 0);
        }

        return new LatencySummary(
            h.TotalCount,
            Math.Round(h.GetMean(), 1),
            h.GetValueAtPercentile(50),
            h.GetValueAtPercentile(90),
            h.GetValueAtPercentile(99),
            h.GetValueAtPercentile(99.9),
            h.GetMaxValue());
    }

    /// <summary>The percentile distribution (HdrHistogram's standard steps) as (percentile, latency µs) points.</summary>
    public IReadOnlyList<(double Percentile, long LatencyUs)> Distribution()
    {
        var points = new List<(double, long)>();
        if (Histogram.TotalCount == 0)
        {
            return points;
        }

        foreach (var value in Histogram.Percentiles(5))
        {
            points.Add((value.Percentile, value.ValueIteratedTo));
        }

        return points;
    }
}
