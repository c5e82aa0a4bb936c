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

        // Each occupied bucket once, at its upper bound ("le" in Prometheus terms): 3 µs lies below 4 µs, and
        // 5 s in [2^22 + 2^19, 2^22 + 2^20) µs = [4.72 s, 5.24 s).
        Assert.Equal([(4.0, 2L), (5_242_880.0, 3L)], histogram.Cumulative());
        Assert.Equal(5_242_880, histogram.PercentileMicroseconds(1.0));
    }

    [Fact]
    public void EveryValueBelowEightMicrosecondsHasItsOwnBucket()
    {
        var histogram = new LatencyHistogram();
        for (int us = 0; us < 8; us++)
        {
            histogram.Record(Micros(us));
        }

        Assert.Equal(Enumerable.Range(1, 8).Select(i => ((double)i, (long)i)), histogram.Cumulative());
        Assert.Equal(4, histogram.PercentileMicroseconds(0.5));
    }

    [Fact]
    public void ANegativeDurationCountsAsZeroAndALongOneKeepsItsBucket()
    {
        var histogram = new LatencyHistogram();
        histogram.Record(-Stopwatch.Frequency); // a clock that went backwards: counted as zero, adds nothing to the sum
        histogram.Record(Micros(TimeSpan.FromHours(2).TotalMicroseconds)); // 7.2e9 µs, in [2^32 + 5·2^29, 2^32 + 6·2^29)

        Assert.Equal(2, histogram.Count);
        Assert.Equal(1, histogram.PercentileMicroseconds(0.5));
        Assert.Equal((1L << 32) + (6L << 29), histogram.PercentileMicroseconds(1.0));
        Assert.Equal([(1.0, 1L), ((1L << 32) + (6L << 29), 2L)], histogram.Cumulative());
        Assert.Equal(TimeSpan.FromHours(2).TotalSeconds, histogram.SumSeconds, 1e-3);
    }

    [Fact]
    public void AVeryLongDurationIsClampedIntoTheTopBucketRatherThanThrowing()
    {
        // Fails today: Record computes ticks * 1_000_000 in a long, which overflows past long.MaxValue / 10^6 ticks
        // (about 2.6 hours where Stopwatch.Frequency is 10^9, as on Linux); the negative quotient then indexes the
        // bucket array below zero and Record throws IndexOutOfRangeException (as RecordSince does for a start that far
        // back, such as a zero or stale timestamp). BucketOf's clamp to the top bucket is never reached on such a clock.
        var histogram = new LatencyHistogram();
        histogram.Record(Micros(TimeSpan.FromDays(30).TotalMicroseconds));

        Assert.Equal(1, histogram.Count);
        Assert.Equal(Math.Pow(2, 34), histogram.PercentileMicroseconds(1.0));
    }
}
