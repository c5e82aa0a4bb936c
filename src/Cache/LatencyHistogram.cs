using System.Diagnostics;

namespace SemCache.Cache;

/// <summary>
/// A lock-free latency histogram with log-linear buckets: 8 sub-buckets per power of two of microseconds, so any
/// percentile is known within about 9%, from 1 µs to about 70 minutes, in 256 counters. Recording is one
/// Interlocked.Increment, so every request can be timed.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBucketBits = 3;
    private const int SubBuckets = 1 << SubBucketBits;
    private const int BucketCount = 32 * SubBuckets;
    private readonly long[] _counts = new long[BucketCount];
    private long _count;
    private long _sumTicks;

    /// <summary>Number of recorded values.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>Sum of recorded values, in seconds.</summary>
    public double SumSeconds => (double)Interlocked.Read(ref _sumTicks) / Stopwatch.Frequency;

    /// <summary>Records the time elapsed since <paramref name="startTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/> value).</summary>
    public void RecordSince(long startTimestamp) => Record(Stopwatch.GetTimestamp() - startTimestamp);

    /// <summary>Records one duration.</summary>
    public void Record(TimeSpan duration) => Record((long)(duration.TotalSeconds * Stopwatch.Frequency));

    /// <summary>Records a duration in <see cref="Stopwatch"/> ticks.</summary>
    public void Record(long ticks)
    {
        ticks = Math.Max(0, ticks);
        // Via a 128-bit product: ticks × 10⁶ overflows a long past ~2.6 h at Linux's 10⁹ ticks per second.
        long micros = (long)Int128.Min(long.MaxValue, (Int128)ticks * 1_000_000 / Stopwatch.Frequency);
        Interlocked.Increment(ref _counts[BucketOf(micros)]);
        Interlocked.Increment(ref _count);
        Interlocked.Add(ref _sumTicks, ticks);
    }

    /// <summary>The value below which <paramref name="quantile"/> of the recorded values lie (bucket upper bound), in microseconds.</summary>
    public double PercentileMicroseconds(double quantile)
    {
        long total = Count;
        if (total == 0)
        {
            return 0;
        }

        long rank = (long)Math.Ceiling(quantile * total);
        long seen = 0;
        for (int i = 0; i < BucketCount; i++)
        {
            seen += Interlocked.Read(ref _counts[i]);
            if (seen >= rank)
            {
                return UpperBoundMicroseconds(i);
            }
        }

        return UpperBoundMicroseconds(BucketCount - 1);
    }

    /// <summary>Cumulative counts at each bucket's upper bound (microseconds), for Prometheus-style exposition.</summary>
    public IEnumerable<(double UpperBoundMicroseconds, long CumulativeCount)> Cumulative()
    {
        long seen = 0;
        for (int i = 0; i < BucketCount; i++)
        {
            long count = Interlocked.Read(ref _counts[i]);
            seen += count;
            if (count > 0)
            {
                yield return (UpperBoundMicroseconds(i), seen);
            }
        }
    }

    // Values below 8 µs get a bucket each; above, bucket = (power of two, top three bits after the leading one).
    private static int BucketOf(long micros)
    {
        if (micros < SubBuckets)
        {
            return (int)micros;
        }

        int power = 63 - (int)long.LeadingZeroCount(micros);
        int sub = (int)(micros >> (power - SubBucketBits)) & (SubBuckets - 1);
        return Math.Min(BucketCount - 1, ((power - SubBucketBits + 1) * SubBuckets) + sub);
    }

    private static double UpperBoundMicroseconds(int bucket)
    {
        if (bucket < SubBuckets)
        {
            return bucket + 1;
        }

        int power = (bucket / SubBuckets) + SubBucketBits - 1;
        int sub = bucket % SubBuckets;
        return (double)((1L << power) + ((long)(sub + 1) << (power - SubBucketBits)));
    }
}

/// <summary>Where the engine's time goes, per stage of a request.</summary>
public sealed class EngineTimings
{
    /// <summary>Whole Get calls.</summary>
    public LatencyHistogram Get { get; } = new();

    /// <summary>Exact-layer lookups in the store.</summary>
    public LatencyHistogram ExactLookup { get; } = new();

    /// <summary>Embedding the prompt (queueing in the batcher included).</summary>
    public LatencyHistogram Embed { get; } = new();

    /// <summary>Of <see cref="Embed"/>: the wait in the micro-batcher before the model call began.</summary>
    public LatencyHistogram EmbedQueue { get; } = new();

    /// <summary>Of <see cref="Embed"/>: the model call that embedded the prompt (shared with the rest of its batch).</summary>
    public LatencyHistogram Model { get; } = new();

    /// <summary>Nearest-neighbour searches in the index.</summary>
    public LatencyHistogram Search { get; } = new();

    /// <summary>Reading the semantic layer's candidates from the store.</summary>
    public LatencyHistogram Fetch { get; } = new();

    /// <summary>Writes of Sets: store and index, embedding excluded (each SetMany entry counts as one).</summary>
    public LatencyHistogram Set { get; } = new();
}
