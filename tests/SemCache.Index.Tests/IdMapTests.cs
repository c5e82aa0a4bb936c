namespace SemCache.Index.Tests;

/// <summary>The graph's id → slot map: its memory per vector, and lookups staying right through removals and reuse.</summary>
public class IdMapTests
{
    private const int Dim = 8;

    private static VectorIndexOptions Options() => new() { Dimension = Dim, M = 8, EfConstruction = 32 };

    private static float[] Vector(Random random)
    {
        var v = new float[Dim];
        for (int d = 0; d < Dim; d++)
        {
            v[d] = (float)(random.NextDouble() - 0.5);
        }

        return v;
    }

    [Fact]
    public void MapCostsAtMostSixteenBytesPerVector()
    {
        // A Dictionary<long, int> costs 28 bytes per unit of capacity (entry + bucket), 30-56 per vector as it grows;
        // at 1M vectors that was ~40 bytes of the per-entry budget (docs/benchmarks.md, "Memory per entry").
        using var index = new HnswIndex(Options());
        var random = new Random(3);
        for (int i = 0; i < 5_000; i++)
        {
            index.Add(10_000 + (i * 13L), Vector(random));
        }

        double perVector = (double)index.Memory().IdMap / index.Count;
        Assert.True(perVector <= 16, $"id map {perVector:F1} bytes per vector");
    }

    [Fact]
    public void LookupsStayRightThroughRemovalsAndSlotReuse()
    {
        using var index = new HnswIndex(Options());
        var random = new Random(5);
        var live = new HashSet<long>();
        // Ids that share low bits, so that many land on neighbouring buckets and removals shift runs of them.
        long NextId(int i) => (long)i << 20;
        for (int i = 0; i < 3_000; i++)
        {
            index.Add(NextId(i), Vector(random));
            live.Add(NextId(i));
        }

        for (int round = 0; round < 3; round++)
        {
            foreach (long id in live.Where(_ => random.Next(3) == 0).ToList())
            {
                Assert.True(index.Remove(id));
                live.Remove(id);
            }

            for (int i = 0; i < 3_000; i++)
            {
                long id = NextId(i);
                Assert.Equal(live.Contains(id), index.Contains(id));
                if (!live.Contains(id) && random.Next(2) == 0)
                {
                    Assert.True(index.TryAdd(id, Vector(random)));
                    live.Add(id);
                }
            }
        }

        var buffer = new float[Dim];
        foreach (long id in live)
        {
            Assert.True(index.TryGetVector(id, buffer));
            Assert.False(index.TryAdd(id, Vector(random)));
        }

        Assert.False(index.Remove(NextId(5_000)));
        Assert.Equal(live.Count, index.Count);
        Assert.Empty(index.CheckInvariants(out int reachable));
        Assert.Equal(live.Count, reachable);
    }
}
