namespace SemCache.Index.Tests;

public class HnswIndexTests
{
    private const int Dim = 48;

    private static VectorIndexOptions Options(VectorQuantization q = VectorQuantization.None) => new()
    {
        Dimension = Dim,
        M = 16,
        EfConstruction = 100,
        EfSearch = 64,
        Quantization = q,
    };

    private static (HnswIndex Index, Dictionary<long, float[]> Live) Build(int count, int seed, VectorQuantization q = VectorQuantization.None)
    {
        var index = new HnswIndex(Options(q));
        float[][] data = TestData.Clustered(count, Dim, clusters: 40, seed);
        return (index, AddAll(index, data));
    }

    /// <summary>Queries drawn around the same centroids as <see cref="Build"/>'s data for that seed.</summary>
    private static float[][] Queries(int count, int dataCount, int seed) =>
        TestData.Clustered(dataCount + count, Dim, clusters: 40, seed)[dataCount..];

    private static Dictionary<long, float[]> AddAll(HnswIndex index, float[][] data)
    {
        int count = data.Length;
        var live = new Dictionary<long, float[]>();
        for (int i = 0; i < count; i++)
        {
            long id = 1_000_000L + (i * 7L);
            index.Add(id, data[i]);
            live[id] = data[i];
        }

        return live;
    }

    [Fact]
    public void RecallAgainstBruteForceMeetsTarget()
    {
        (HnswIndex index, Dictionary<long, float[]> live) = Build(4000, seed: 1);
        using (index)
        {
            float[][] queries = Queries(200, 4000, seed: 1);
            double recall = TestData.Recall(live, queries, 10, q => index.Search(q, 10));
            Assert.True(recall >= 0.97, $"recall@10 = {recall:F4}");
            Assert.Empty(index.CheckInvariants(out int reachable));
            Assert.Equal(index.Count, reachable);
        }
    }

    [Fact]
    public void HigherEfSearchDoesNotLowerRecall()
    {
        (HnswIndex index, Dictionary<long, float[]> live) = Build(3000, seed: 2);
        using (index)
        {
            float[][] queries = Queries(100, 3000, seed: 2);
            var buffer = new SearchResult[10];
            double Run(int ef) => TestData.Recall(live, queries, 10, q => buffer[..index.Search(q, 10, buffer, ef)]);
            double low = Run(10), high = Run(200);
            Assert.True(high >= low, $"ef=10: {low}, ef=200: {high}");
            Assert.True(high >= 0.99, $"ef=200 recall {high}");
        }
    }

    [Fact]
    public void Int8TraversalWithFloatRescoringKeepsRecall()
    {
        (HnswIndex index, Dictionary<long, float[]> live) = Build(3000, seed: 3, VectorQuantization.Int8);
        using (index)
        {
            float[][] queries = Queries(100, 3000, seed: 3);
            double recall = TestData.Recall(live, queries, 10, q => index.Search(q, 10));
            Assert.True(recall >= 0.93, $"int8 recall@10 = {recall:F4}");

            // Similarities are exact (rescored on floats), not int8 approximations.
            SearchResult[] r = index.Search(queries[0], 5);
            Assert.Equal(5, r.Length); // otherwise the loop below checks nothing
            foreach (SearchResult hit in r)
            {
                Assert.Equal(TestData.Dot(live[hit.Id], queries[0]), hit.Similarity, 1e-4f);
            }
        }
    }

    [Fact]
    public void Int8WithMemoryMappedRescoreStorage()
    {
        string dir = Path.Combine(Path.GetTempPath(), "semcache-index-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var options = new VectorIndexOptions { Dimension = Dim, Quantization = VectorQuantization.Int8, RescoreStorageDirectory = dir, EfConstruction = 64 };
            float[][] data = TestData.Clustered(1500, Dim, 20, seed: 33);
            using (var mapped = new HnswIndex(options))
            using (var inMemory = new HnswIndex(new VectorIndexOptions { Dimension = Dim, Quantization = VectorQuantization.Int8, EfConstruction = 64 }))
            {
                for (int i = 0; i < data.Length; i++)
                {
                    mapped.Add(i, data[i]);
                    inMemory.Add(i, data[i]);
                }

                Assert.Equal(7, mapped.Search(data[7], 1)[0].Id);
                Assert.Equal(inMemory.Search(data[9], 10), mapped.Search(data[9], 10));

                // The float rows (two chunks' worth) live in the mapped files, not on the heap.
                Assert.True(inMemory.MemoryBytes() - mapped.MemoryBytes() >= 2L * HnswIndex.ChunkSize * Dim * 4);
            }

            Assert.Empty(Directory.GetFiles(dir)); // delete-on-close
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void EmptyIndexReturnsNothing()
    {
        using var index = new HnswIndex(Options());
        Assert.Empty(index.Search(new float[Dim].Select((_, i) => i == 0 ? 1f : 0f).ToArray(), 5));
        Assert.Equal(0, index.Count);
        Assert.False(index.Remove(1));
        Assert.False(index.Contains(1));
    }

    [Fact]
    public void KLargerThanCountReturnsEverything()
    {
        (HnswIndex index, Dictionary<long, float[]> live) = Build(7, seed: 4);
        using (index)
        {
            SearchResult[] r = index.Search(live.Values.First(), 50);
            Assert.Equal(7, r.Length);
            Assert.Equal(live.Keys.Order(), r.Select(x => x.Id).Order());
            Assert.True(r.Zip(r.Skip(1)).All(p => p.First.Similarity >= p.Second.Similarity), "sorted by similarity");
        }
    }

    [Fact]
    public void DuplicateIdIsRejected()
    {
        using var index = new HnswIndex(Options());
        float[][] v = TestData.Clustered(2, Dim, 1, seed: 5);
        index.Add(42, v[0]);
        Assert.Throws<ArgumentException>(() => index.Add(42, v[1]));
        Assert.False(index.TryAdd(42, v[1]));
        Assert.Equal(1, index.Count);
        var stored = new float[Dim];
        Assert.True(index.TryGetVector(42, stored));
        Assert.Equal(v[0], stored);
    }

    [Fact]
    public void InvalidArgumentsAreReportedClearly()
    {
        using var index = new HnswIndex(Options());
        float[] good = TestData.Clustered(1, Dim, 1, seed: 6)[0];
        index.Add(1, good);

        ArgumentException wrongDim = Assert.Throws<ArgumentException>(() => index.Add(2, new float[Dim + 1]));
        Assert.Contains("49 components", wrongDim.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => index.Search(new float[Dim - 1], 1));

        float[] nan = (float[])good.Clone();
        nan[3] = float.NaN;
        ArgumentException nanError = Assert.Throws<ArgumentException>(() => index.Add(2, nan));
        Assert.Contains("component 3", nanError.Message, StringComparison.Ordinal);
        float[] inf = (float[])good.Clone();
        inf[0] = float.PositiveInfinity;
        Assert.Throws<ArgumentException>(() => index.Search(inf, 1));
        Assert.Throws<ArgumentException>(() => index.Add(3, new float[Dim]));

        Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(good, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(good, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(good, 1, new SearchResult[1], efSearch: 0));
        Assert.Throws<ArgumentException>(() => index.Search(good, 5, new SearchResult[4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HnswIndex(new VectorIndexOptions { Dimension = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HnswIndex(new VectorIndexOptions { Dimension = 8, M = 1 }));
        Assert.Equal(1, index.Count);
    }

    [Fact]
    public void NonUnitVectorsAreNormalised()
    {
        using var index = new HnswIndex(Options());
        float[] v = TestData.Clustered(1, Dim, 1, seed: 7)[0];
        index.Add(1, v.Select(x => x * 5f).ToArray());
        var stored = new float[Dim];
        Assert.True(index.TryGetVector(1, stored));
        Assert.Equal(1f, TestData.Dot(stored, stored), 1e-5f);
        SearchResult hit = index.Search(v.Select(x => x * 0.1f).ToArray(), 1)[0];
        Assert.Equal(1, hit.Id);
        Assert.Equal(1f, hit.Similarity, 1e-5f);
    }

    [Fact]
    public void RemovedIdIsNeverReturnedAndSlotIsReused()
    {
        (HnswIndex index, Dictionary<long, float[]> live) = Build(1500, seed: 8);
        using (index)
        {
            int high = index.SlotHighWater;
            long[] victims = [.. live.Keys.Where((_, i) => i % 10 == 0)];
            foreach (long id in victims)
            {
                Assert.True(index.Remove(id));
                Assert.False(index.Remove(id));
            }

            foreach (long id in victims)
            {
                SearchResult[] r = index.Search(live[id], 20);
                Assert.Equal(20, r.Length); // an empty answer would pass the next line too
                Assert.DoesNotContain(r, x => x.Id == id);
                Assert.False(index.Contains(id));
            }

            Assert.Equal(victims.Length, index.FreeSlotCount);
            float[][] fresh = Queries(victims.Length, 1500, seed: 8);
            for (int i = 0; i < fresh.Length; i++)
            {
                index.Add(-1 - i, fresh[i]);
            }

            Assert.Equal(high, index.SlotHighWater); // every new node took a freed slot
            Assert.Equal(0, index.FreeSlotCount);
            Assert.Empty(index.CheckInvariants(out _));
        }
    }

    [Fact]
    public void RecallHoldsAfterDeletingThirtyPercentAndReinserting()
    {
        (HnswIndex index, Dictionary<long, float[]> live) = Build(4000, seed: 9);
        using (index)
        {
            var random = new Random(9);
            long[] victims = [.. live.Keys.OrderBy(_ => random.Next()).Take(1200)];
            foreach (long id in victims)
            {
                Assert.True(index.Remove(id));
                live.Remove(id);
            }

            float[][] fresh = Queries(1400, 4000, seed: 9)[..1200];
            for (int i = 0; i < fresh.Length; i++)
            {
                index.Add(5_000_000 + i, fresh[i]);
                live[5_000_000 + i] = fresh[i];
            }

            Assert.Equal(4000, index.Count);
            float[][] queries = Queries(1400, 4000, seed: 9)[1200..];
            double recall = TestData.Recall(live, queries, 10, q => index.Search(q, 10));
            Assert.True(recall >= 0.96, $"recall@10 after churn = {recall:F4}");
            Assert.Empty(index.CheckInvariants(out int reachable));
            Assert.True(reachable >= index.Count * 0.995, $"reachable {reachable} of {index.Count}");
        }
    }

    [Fact]
    public void RemovingEverythingThenAddingWorks()
    {
        (HnswIndex index, Dictionary<long, float[]> live) = Build(300, seed: 10);
        using (index)
        {
            foreach (long id in live.Keys)
            {
                Assert.True(index.Remove(id));
            }

            Assert.Equal(0, index.Count);
            Assert.Equal(-1, index.Entry.EntryPoint);
            Assert.Empty(index.Search(live.Values.First(), 3));
            Assert.Empty(index.CheckInvariants(out _));

            index.Add(1, live.Values.First());
            Assert.Equal(1, index.Search(live.Values.First(), 3).Single().Id);
        }
    }

    [Fact]
    public void EnumerateVectorsReturnsEveryLiveEntry()
    {
        (HnswIndex index, Dictionary<long, float[]> live) = Build(500, seed: 11);
        using (index)
        {
            index.Remove(live.Keys.First());
            live.Remove(live.Keys.First());
            var seen = index.EnumerateVectors().ToDictionary(e => e.Id, e => e.Vector.ToArray());
            Assert.Equal(live.Keys.Order(), seen.Keys.Order());
            foreach ((long id, float[] v) in live)
            {
                Assert.Equal(v, seen[id]);
            }
        }
    }
}
