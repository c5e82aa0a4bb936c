namespace SemCache.Index.Tests;

public sealed class SnapshotTests : IDisposable
{
    private const int Dim = 24;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "semcache-snapshot-" + Guid.NewGuid().ToString("N"));

    public SnapshotTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static PartitionedIndex BuildMixed(VectorQuantization q, out float[][] data)
    {
        var options = new VectorIndexOptions { Dimension = Dim, FlatScanThreshold = 100, EfConstruction = 48, Quantization = q };
        var index = new PartitionedIndex(options);
        data = TestData.Clustered(700, Dim, 10, seed: 41);
        // One graph partition with churn (free slots), a few flat ones, and one emptied (retired, so not saved).
        PartitionKey big = PartitionKey.FromString("big");
        for (int i = 0; i < 500; i++)
        {
            index.Add(big, i, data[i]);
        }

        for (int i = 0; i < 500; i += 7)
        {
            index.Remove(big, i);
        }

        for (int p = 0; p < 5; p++)
        {
            for (int i = 0; i < 30; i++)
            {
                index.Add(new PartitionKey((UInt128)p), (p * 1000) + i, data[500 + (p * 30) + i]);
            }
        }

        index.Add(PartitionKey.FromString("empty"), 1, data[0]);
        index.Remove(PartitionKey.FromString("empty"), 1);
        return index;
    }

    [Theory]
    [InlineData(VectorQuantization.None)]
    [InlineData(VectorQuantization.Int8)]
    public void RoundTripRestoresEveryPartitionExactly(VectorQuantization q)
    {
        using PartitionedIndex original = BuildMixed(q, out float[][] data);
        string path = Path.Combine(_dir, "index.snap");
        original.Save(path);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*"));

        using PartitionedIndex loaded = PartitionedIndex.Load(path);
        Assert.Equal(6, original.PartitionCount);
        Assert.DoesNotContain(PartitionKey.FromString("empty"), loaded.PartitionKeys);
        Assert.Equal(original.PartitionCount, loaded.PartitionCount);
        Assert.Equal(original.Count, loaded.Count);
        Assert.Equal(original.Options.Quantization, loaded.Options.Quantization);
        foreach (PartitionKey key in original.PartitionKeys)
        {
            Assert.Equal(original.IsGraph(key), loaded.IsGraph(key));
            Assert.Equal(
                original.EnumerateVectors(key).OrderBy(e => e.Id).Select(e => (e.Id, e.Vector.ToArray())),
                loaded.EnumerateVectors(key).OrderBy(e => e.Id).Select(e => (e.Id, e.Vector.ToArray())),
                (x, y) => x.Id == y.Id && x.Item2.SequenceEqual(y.Item2));
            for (int i = 0; i < data.Length; i += 50)
            {
                // Same graph, same entry point: identical results.
                Assert.Equal(original.Search(key, data[i], 10), loaded.Search(key, data[i], 10));
            }
        }

        // The loaded graph keeps working: free slots are reused, new ids searchable.
        PartitionKey big = PartitionKey.FromString("big");
        loaded.Add(big, 9999, data[650]);
        Assert.Equal(9999, loaded.Search(big, data[650], 1)[0].Id);
    }

    [Fact]
    public void SaveReplacesAnExistingSnapshot()
    {
        using PartitionedIndex index = BuildMixed(VectorQuantization.None, out _);
        string path = Path.Combine(_dir, "index.snap");
        File.WriteAllText(path, "old");
        index.Save(path);
        using PartitionedIndex loaded = PartitionedIndex.Load(path);
        Assert.Equal(index.Count, loaded.Count);
    }

    [Fact]
    public void TruncatedSnapshotIsReportedAsTruncated()
    {
        using PartitionedIndex index = BuildMixed(VectorQuantization.None, out _);
        string path = Path.Combine(_dir, "index.snap");
        index.Save(path);
        byte[] bytes = File.ReadAllBytes(path);
        foreach (int length in new[] { 0, 10, 79, 80, bytes.Length / 2, bytes.Length - 1 })
        {
            File.WriteAllBytes(path, bytes[..length]);
            InvalidDataException e = Assert.Throws<InvalidDataException>(() => PartitionedIndex.Load(path));
            Assert.Contains("truncated", e.Message, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public void CorruptSnapshotIsReportedAsCorrupt()
    {
        using PartitionedIndex index = BuildMixed(VectorQuantization.Int8, out _);
        string path = Path.Combine(_dir, "index.snap");
        index.Save(path);
        byte[] bytes = File.ReadAllBytes(path);
        var random = new Random(43);
        // Header fields, then bytes all over the body.
        int[] offsets = [0, 9, 17, 40, 56, 70, 78, .. Enumerable.Range(0, 40).Select(_ => random.Next(80, bytes.Length))];
        foreach (int offset in offsets)
        {
            byte[] damaged = (byte[])bytes.Clone();
            damaged[offset] ^= (byte)(1 << random.Next(8));
            File.WriteAllBytes(path, damaged);
            InvalidDataException e = Assert.Throws<InvalidDataException>(() => PartitionedIndex.Load(path));
            Assert.Matches("corrupt|truncated|version", e.Message.ToLowerInvariant());
        }

        byte[] longer = [.. bytes, 0];
        File.WriteAllBytes(path, longer);
        Assert.Throws<InvalidDataException>(() => PartitionedIndex.Load(path));
    }

    [Fact]
    public void EmptyCollectionRoundTrips()
    {
        using var index = new PartitionedIndex(new VectorIndexOptions { Dimension = 3 });
        string path = Path.Combine(_dir, "empty.snap");
        index.Save(path);
        using PartitionedIndex loaded = PartitionedIndex.Load(path);
        Assert.Equal(0, loaded.PartitionCount);
        Assert.Equal(3, loaded.Options.Dimension);
    }

    [Fact]
    public void MissingFileThrowsFileNotFound() =>
        Assert.Throws<FileNotFoundException>(() => PartitionedIndex.Load(Path.Combine(_dir, "nope.snap")));
}
