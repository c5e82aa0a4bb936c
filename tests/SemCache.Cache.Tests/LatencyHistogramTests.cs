using System.Diagnostics;

namespace SemCache.Cache.Tests;

public sealed class LatencyHistogramTests
{
    private static long Micros(double us) => (long)(us * Stopwatch.Frequency / 1_000_000);

    [Fact]
    public void PercentilesAreWithinOneBucketOfTheTruth()
    {
        var histogram = new LatencyHistogram();
        for (int us = 1; us <= 10_000; us++)
        {
            histogram.Record(Micros(us));
        }

        Assert.Equal(10_000, histogram.Count);
        foreach (double q in new[] { 0.5, 0.9, 0.99, 0.999 })
        {
            double truth = q * 10_000;
            double estimate = histogram.PercentileMicroseconds(q);
            Assert.InRange(estimate, truth, truth * 1.13);
        }

        Assert.Equal(10_000 * 10_001 / 2 / 1e6, histogram.SumSeconds, 1e-3);
    }

    [Fact]
    public void SmallValuesAreExactAndCumulativeCountsEndAtTheTotal()
    {
        var histogram = new LatencyHistogram();
        histogram.Record(Micros(3));
        histogram.Record(Micros(3));
        histogram.Record(Micros(5_000_000));
        Assert.Equal(4, histogram.PercentileMicroseconds(0.5));
        Assert.Equal(3, histogram.Cumulative().Last().CumulativeCount);
        Assert.Equal(0, new LatencyHistogram().PercentileMicroseconds(0.99));
    }
}
