namespace SemCache.Index.Tests;

public class PartitionedIndexTests
{
    private const int Dim = 32;

    private static VectorIndexOptions Options(int threshold = 200, VectorQuantization q = VectorQuantization.None) => new()
    {
        Dimension = Dim,
        FlatScanThreshold = threshold,
        EfConstruction = 64,
        Quantization = q,
    };

    [Fact]
    public void EnumerateIdsListsExactlyTheLiveEntriesOfFlatAndGraphPartitions()
    {
        using var index = new PartitionedIndex(Options(threshold: 50));
        PartitionKey flat = PartitionKey.FromString("flat"), graph = PartitionKey.FromString("graph");
        float[][] data = TestData.Clustered(300, Dim, 8, seed: 5);
        for (int i = 0; i < 30; i++)
        {
            index.Add(flat, i, data[i]);
        }

        for (int i = 0; i < 300; i++)
        {
            index.Add(graph, 1000 + i, data[i]);
        }

        for (int i = 0; i < 300; i += 3)
        {
            Assert.True(index.Remove(graph, 1000 + i));
        }

        Assert.True(index.Remove(flat, 7));
        Assert.False(index.IsGraph(flat));
        Assert.True(index.IsGraph(graph));
        Assert.Equal(Enumerable.Range(0, 30).Where(i => i != 7).Select(i => (long)i), index.EnumerateIds(flat).Order());
        Assert.Equal(Enumerable.Range(0, 300).Where(i => i % 3 != 0).Select(i => 1000L + i), index.EnumerateIds(graph).Order());
        Assert.Equal(index.EnumerateVectors(graph).Select(v => v.Id).Order(), index.EnumerateIds(graph).Order());
        Assert.Empty(index.EnumerateIds(PartitionKey.FromString("absent")));
    }

    [Fact]
    public void SmallPartitionIsAnExactFlatScanThatGrowsIntoAGraph()
    {
        using var index = new PartitionedIndex(Options(threshold: 200));
        PartitionKey key = PartitionKey.FromString("ns/attrs/ctx");
        float[][] data = TestData.Clustered(600, Dim, 8, seed: 31);
        float[][] queries = TestData.Clustered(650, Dim, 8, seed: 31)[600..];
        var live = new Dictionary<long, float[]>();
        for (int i = 0; i < 199; i++)
        {
            index.Add(key, i, data[i]);
            live[i] = data[i];
        }

        Assert.False(index.IsGraph(key));
        // Flat scan is exact: recall 1.
        Assert.Equal(1.0, TestData.Recall(live, queries, 10, q => index.Search(key, q, 10)));

        for (int i = 199; i < data.Length; i++)
        {
            index.Add(key, i, data[i]);
            live[i] = data[i];
        }

        Assert.True(index.IsGraph(key));
        Assert.Equal(600, index.CountOf(key));
        Assert.True(TestData.Recall(live, queries, 10, q => index.Search(key, q, 10)) >= 0.97);
        Assert.Throws<ArgumentException>(() => index.Add(key, 5, data[5]));
        Assert.True(index.Remove(key, 5));
        Assert.False(index.Contains(key, 5));
    }

    [Fact]
    public void PartitionsAreIndependent()
    {
        using var index = new PartitionedIndex(Options());
        float[][] data = TestData.Clustered(50, Dim, 4, seed: 32);
        PartitionKey a = PartitionKey.FromString("a"), b = PartitionKey.FromString("b");
        index.Add(a, 1, data[0]);
        index.Add(b, 1, data[1]); // same id, other partition
        index.Add(b, 2, data[2]);

        Assert.Equal(2, index.PartitionCount);
        Assert.Equal(3, index.Count);
        Assert.Equal(1, index.Search(a, data[2], 5).Single().Id);
        Assert.Equal(2, index.Search(b, data[2], 1)[0].Id);
        Assert.Empty(index.Search(PartitionKey.FromString("missing"), data[0], 3));

        Assert.True(index.RemovePartition(b));
        Assert.False(index.RemovePartition(b));
        Assert.Equal(1, index.PartitionCount);
        Assert.Empty(index.Search(b, data[2], 1));
    }

    [Fact]
    public void FlatPartitionDeletesAndValidation()
    {
        using var index = new PartitionedIndex(Options());
        PartitionKey key = new(12345);
        float[][] data = TestData.Clustered(20, Dim, 2, seed: 33);
        for (int i = 0; i < data.Length; i++)
        {
            index.Add(key, 100 + i, data[i]);
        }

        Assert.True(index.Remove(key, 105));
        Assert.False(index.Remove(key, 105));
        SearchResult[] all = index.Search(key, data[5], 20);
        Assert.Equal(19, all.Length); // every remaining row, so the next line is not checking an empty answer
        Assert.DoesNotContain(all, r => r.Id == 105);
        Assert.Equal(19, index.Search(key, data[5], 100).Length);

        Assert.Throws<ArgumentException>(() => index.Add(key, 1, new float[Dim + 1]));
        Assert.Throws<ArgumentException>(() => index.Add(key, 1, Enumerable.Repeat(float.NaN, Dim).ToArray()));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Search(key, data[0], 0));
        Assert.Throws<ArgumentException>(() => index.Search(key, new float[3], 1));

        var v = new float[Dim];
        Assert.True(index.TryGetVector(key, 100, v));
        Assert.Equal(data[0], v);
        Assert.Equal(19, index.EnumerateVectors(key).Count());
    }

    [Fact]
    public void ThousandsOfSmallPartitionsCostLittleMemory()
    {
        using var index = new PartitionedIndex(Options());
        float[][] data = TestData.Clustered(8, Dim, 2, seed: 34);
        for (int p = 0; p < 5000; p++)
        {
            var key = new PartitionKey((UInt128)p);
            for (int i = 0; i < 3; i++)
            {
                index.Add(key, i, data[(p + i) % data.Length]);
            }
        }

        Assert.Equal(5000, index.PartitionCount);
        long perPartition = index.EstimateMemoryBytes() / 5000;
        // 3 vectors of 32 floats (grown to room for 4) plus ids: a few hundred bytes, not a graph's chunk.
        Assert.True(perPartition < 1024, $"{perPartition} bytes per 3-vector partition");
    }

    [Fact]
    public void AFlatPartitionThatShrinksGivesBackItsRows()
    {
        using var index = new PartitionedIndex(Options(threshold: 2048));
        PartitionKey key = PartitionKey.FromString("long-lived");
        float[][] data = TestData.Clustered(1000, Dim, 8, seed: 36);
        for (int i = 0; i < data.Length; i++)
        {
            index.Add(key, i, data[i]);
        }

        long peak = index.EstimateMemoryBytes();
        for (int i = 10; i < data.Length; i++)
        {
            Assert.True(index.Remove(key, i));
        }

        Assert.False(index.IsGraph(key));
        Assert.Equal(10, index.CountOf(key));
        long after = index.EstimateMemoryBytes();
        Assert.True(after * 10 < peak, $"{after} bytes for 10 rows, {peak} at 1,000");

        // Still exact and complete.
        var live = Enumerable.Range(0, 10).ToDictionary(i => (long)i, i => data[i]);
        Assert.Equal(1.0, TestData.Recall(live, data[..20], 5, q => index.Search(key, q, 5)));
    }

    [Fact]
    public void ZeroThresholdMakesEveryPartitionAGraph()
    {
        using var index = new PartitionedIndex(Options(threshold: 0));
        PartitionKey key = PartitionKey.FromString("g");
        index.Add(key, 1, TestData.Clustered(1, Dim, 1, seed: 35)[0]);
        Assert.True(index.IsGraph(key));
    }
}
