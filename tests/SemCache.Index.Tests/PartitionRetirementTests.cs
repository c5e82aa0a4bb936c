namespace SemCache.Index.Tests;

/// <summary>
/// Emptied partitions are retired (their memory freed), and neither retirement nor <see cref="PartitionedIndex.RemovePartition"/>
/// frees a partition that a concurrent call is still reading.
/// </summary>
public sealed class PartitionRetirementTests : IDisposable
{
    private const int Dim = 32;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "semcache-retire-" + Guid.NewGuid().ToString("N"));

    public PartitionRetirementTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private VectorIndexOptions Int8Mapped(int threshold) => new()
    {
        Dimension = Dim,
        FlatScanThreshold = threshold,
        EfConstruction = 32,
        M = 8,
        Quantization = VectorQuantization.Int8,
        RescoreStorageDirectory = _dir,
    };

    /// <summary>Ids encode their partition, so a result from the wrong partition is detected.</summary>
    private static long IdOf(int partition, int i) => (partition * 100_000L) + i;

    [Theory]
    [InlineData(0)] // every partition a graph (memory-mapped rescoring rows)
    [InlineData(8)] // flat partitions, some upgraded to graphs
    [InlineData(1_000)] // flat partitions only
    public void EmptiedPartitionsAreRetiredAndTheirMemoryFreed(int threshold)
    {
        using var index = new PartitionedIndex(Int8Mapped(threshold));
        long baseline = index.EstimateMemoryBytes();
        float[][] data = TestData.Clustered(16, Dim, 4, seed: 61);
        const int Partitions = 300;
        for (int p = 0; p < Partitions; p++)
        {
            int size = 1 + (p % 12);
            for (int i = 0; i < size; i++)
            {
                index.Add(new PartitionKey((UInt128)p), IdOf(p, i), data[(p + i) % data.Length]);
            }
        }

        Assert.Equal(Partitions, index.PartitionCount);
        Assert.True(index.EstimateMemoryBytes() > baseline + (Partitions * Dim * 4));

        for (int p = 0; p < Partitions; p++)
        {
            var key = new PartitionKey((UInt128)p);
            int size = 1 + (p % 12);
            for (int i = 0; i < size; i++)
            {
                Assert.True(index.Remove(key, IdOf(p, i)));
            }

            Assert.Equal(0, index.CountOf(key));
            Assert.False(index.IsGraph(key));
            Assert.Empty(index.Search(key, data[0], 3));
        }

        Assert.Equal(0, index.PartitionCount);
        Assert.Empty(index.PartitionKeys);
        Assert.Equal(0, index.Count);
        Assert.Equal(baseline, index.EstimateMemoryBytes());
        // Graph partitions released their memory-mapped rescoring files (delete-on-close) when retired.
        Assert.Empty(Directory.GetFiles(_dir));

        // A retired partition comes back on the next add, working.
        var again = new PartitionKey(5);
        index.Add(again, 1, data[3]);
        Assert.Equal(1, index.PartitionCount);
        Assert.Equal(1, index.Search(again, data[3], 1).Single().Id);
    }

    [Fact]
    public void RemovePartitionReleasesItsMappedFiles()
    {
        using var index = new PartitionedIndex(Int8Mapped(threshold: 0));
        float[][] data = TestData.Clustered(40, Dim, 4, seed: 62);
        for (int p = 0; p < 5; p++)
        {
            for (int i = 0; i < data.Length; i++)
            {
                index.Add(new PartitionKey((UInt128)p), IdOf(p, i), data[i]);
            }
        }

        Assert.NotEmpty(Directory.GetFiles(_dir));
        for (int p = 0; p < 5; p++)
        {
            Assert.True(index.RemovePartition(new PartitionKey((UInt128)p)));
        }

        Assert.Equal(0, index.PartitionCount);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    /// <summary>
    /// Searches race removes that empty partitions (retiring them), whole-partition drops and re-adds, on int8 graphs
    /// whose rescoring rows are memory-mapped: freeing a graph under a running search would unmap memory it reads
    /// (a crash) or hand it another partition's rows. Every result must belong to the searched partition and carry the
    /// similarity of that id's own vector.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(6)]
    public async Task SearchesRacingRetirementAndRemovePartitionReadOnlyLiveMemory(int threshold)
    {
        using var index = new PartitionedIndex(Int8Mapped(threshold));
        const int Partitions = 4, PerPartition = 24, Cycles = 60;
        float[][] data = TestData.Clustered(PerPartition, Dim, 3, seed: 63);
        int searches = 0, results = 0;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        int writersLeft = Partitions;

        Task[] writers = [.. Enumerable.Range(0, Partitions).Select(p => Task.Run(() =>
        {
            var key = new PartitionKey((UInt128)p);
            for (int cycle = 0; cycle < Cycles; cycle++)
            {
                for (int i = 0; i < PerPartition; i++)
                {
                    index.Add(key, IdOf(p, i), data[i]);
                }

                if (cycle % 2 == 0)
                {
                    // Empty it one remove at a time: the last remove retires the partition.
                    for (int i = 0; i < PerPartition; i++)
                    {
                        index.Remove(key, IdOf(p, i));
                    }
                }
                else
                {
                    index.RemovePartition(key);
                }
            }

            Interlocked.Decrement(ref writersLeft);
        }, TestContext.Current.CancellationToken))];

        Task[] searchers = [.. Enumerable.Range(0, 2).Select(s => Task.Run(() =>
        {
            var random = new Random(s);
            var buffer = new SearchResult[8];
            var vector = new float[Dim];
            // Until the writers are done, and at least a fixed number of searches, so the check is never vacuous.
            for (int n = 0; n < 2_000 || Volatile.Read(ref writersLeft) > 0; n++)
            {
                int p = random.Next(Partitions);
                var key = new PartitionKey((UInt128)p);
                float[] query = data[random.Next(data.Length)];
                int found = index.Search(key, query, buffer.Length, buffer);
                Interlocked.Increment(ref searches);
                Interlocked.Add(ref results, found);
                for (int r = 0; r < found; r++)
                {
                    long id = buffer[r].Id;
                    if (id / 100_000 != p || id % 100_000 >= PerPartition)
                    {
                        failures.Enqueue($"partition {p} returned id {id}");
                        continue;
                    }

                    float expected = TestData.Dot(data[id % 100_000], query);
                    if (MathF.Abs(expected - buffer[r].Similarity) > 1e-4f)
                    {
                        failures.Enqueue($"id {id}: similarity {buffer[r].Similarity}, recomputed {expected}");
                    }
                }

                if (n % 16 == 0 && index.TryGetVector(key, IdOf(p, 3), vector) && MathF.Abs(TestData.Dot(vector, data[3]) - 1f) > 1e-4f)
                {
                    failures.Enqueue($"partition {p}: stored vector of id 3 differs");
                }
            }
        }, TestContext.Current.CancellationToken))];

        await Task.WhenAll([.. writers, .. searchers]);

        Assert.Empty(failures);
        Assert.True(searches >= 4_000, $"{searches} searches");
        Assert.True(results > 0, "no search ever found anything: the race was not exercised");
        Assert.Equal(0, index.PartitionCount);
        Assert.Empty(Directory.GetFiles(_dir));
    }

    /// <summary>
    /// One thread keeps emptying a partition (each remove of its only vector retires it) while others add ids that are
    /// never removed: each of those adds must land in a live partition, none in one being retired.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1_000)]
    public async Task AddsRacingRetirementAreNeverLost(int threshold)
    {
        using var index = new PartitionedIndex(Int8Mapped(threshold) with { RescoreStorageDirectory = null, Quantization = VectorQuantization.None });
        var key = PartitionKey.FromString("conversation");
        float[][] data = TestData.Clustered(64, Dim, 4, seed: 64);
        const int Churns = 3_000, Keepers = 2, PerKeeper = 150;

        Task churn = Task.Run(() =>
        {
            for (int c = 0; c < Churns; c++)
            {
                index.Add(key, -1, data[c % data.Length]);
                Assert.True(index.Remove(key, -1));
            }
        }, TestContext.Current.CancellationToken);

        Task[] keepers = [.. Enumerable.Range(0, Keepers).Select(w => Task.Run(() =>
        {
            for (int i = 0; i < PerKeeper; i++)
            {
                long id = (w * 1_000) + i;
                index.Add(key, id, data[(int)(id % data.Length)]);
                if (!index.Contains(key, id))
                {
                    throw new InvalidOperationException($"id {id} vanished right after its add");
                }

                // Give the churner a chance to see the partition empty again between adds.
                Thread.Yield();
            }
        }, TestContext.Current.CancellationToken))];

        await Task.WhenAll([.. keepers, churn]);

        Assert.Equal(Keepers * PerKeeper, index.CountOf(key));
        Assert.Equal(1, index.PartitionCount);
        for (int w = 0; w < Keepers; w++)
        {
            for (int i = 0; i < PerKeeper; i++)
            {
                Assert.True(index.Contains(key, (w * 1_000) + i));
            }
        }
    }

    /// <summary>
    /// Snapshots taken while partitions are filled, emptied (retired) and dropped: each one loads, holds no empty
    /// partition, and every vector in it is its id's own.
    /// </summary>
    [Fact]
    public async Task SavesRacingRetirementWriteOnlyLivePartitions()
    {
        using var index = new PartitionedIndex(Int8Mapped(threshold: 4));
        const int Partitions = 3, PerPartition = 12, Cycles = 40;
        float[][] data = TestData.Clustered(PerPartition, Dim, 3, seed: 66);
        int writersLeft = Partitions;
        Task[] writers = [.. Enumerable.Range(0, Partitions).Select(p => Task.Run(() =>
        {
            var key = new PartitionKey((UInt128)p);
            for (int cycle = 0; cycle < Cycles; cycle++)
            {
                for (int i = 0; i < PerPartition; i++)
                {
                    index.Add(key, IdOf(p, i), data[i]);
                }

                if (cycle % 2 == 0)
                {
                    for (int i = 0; i < PerPartition; i++)
                    {
                        index.Remove(key, IdOf(p, i));
                    }
                }
                else
                {
                    index.RemovePartition(key);
                }
            }

            Interlocked.Decrement(ref writersLeft);
        }, TestContext.Current.CancellationToken))];

        string snapshots = Path.Combine(_dir, "snapshots");
        Directory.CreateDirectory(snapshots);
        int saved = 0;
        Task saver = Task.Run(() =>
        {
            for (int n = 0; n < 5 || Volatile.Read(ref writersLeft) > 0; n++)
            {
                string path = Path.Combine(snapshots, $"s{n % 3}.snap");
                index.Save(path);
                using PartitionedIndex loaded = PartitionedIndex.Load(path, _dir);
                foreach (PartitionKey key in loaded.PartitionKeys)
                {
                    Assert.True(loaded.CountOf(key) > 0, "an empty partition was saved");
                    foreach (StoredVector v in loaded.EnumerateVectors(key))
                    {
                        Assert.Equal((long)key.Value, v.Id / 100_000);
                        Assert.Equal(1f, TestData.Dot(v.Vector.ToArray(), data[v.Id % 100_000]), 1e-4f);
                    }
                }

                saved++;
            }
        }, TestContext.Current.CancellationToken);

        await Task.WhenAll([.. writers, saver]);
        Assert.True(saved >= 5);
        Assert.Equal(0, index.PartitionCount);
    }

    [Fact]
    public void EnumeratingKeepsAPartitionAliveUntilTheEnumeratorIsDisposed()
    {
        using var index = new PartitionedIndex(Int8Mapped(threshold: 0));
        var key = new PartitionKey(9);
        float[][] data = TestData.Clustered(30, Dim, 3, seed: 65);
        for (int i = 0; i < data.Length; i++)
        {
            index.Add(key, i, data[i]);
        }

        using (IEnumerator<StoredVector> e = index.EnumerateVectors(key).GetEnumerator())
        {
            Assert.True(e.MoveNext());
            Assert.True(index.RemovePartition(key));
            Assert.Equal(0, index.PartitionCount);
            Assert.NotEmpty(Directory.GetFiles(_dir)); // still mapped: the enumerator holds the graph
            int seen = 1;
            while (e.MoveNext())
            {
                long id = e.Current.Id;
                Assert.Equal(1f, TestData.Dot(e.Current.Vector.ToArray(), data[id]), 1e-4f);
                seen++;
            }

            Assert.Equal(data.Length, seen);
        }

        Assert.Empty(Directory.GetFiles(_dir)); // released when the enumeration ended

        // Abandoned half way, the enumerator releases the partition when disposed.
        for (int i = 0; i < data.Length; i++)
        {
            index.Add(key, i, data[i]);
        }

        using (IEnumerator<StoredVector> e = index.EnumerateVectors(key).GetEnumerator())
        {
            Assert.True(e.MoveNext());
            Assert.True(index.RemovePartition(key));
            Assert.NotEmpty(Directory.GetFiles(_dir));
        }

        Assert.Empty(Directory.GetFiles(_dir));
    }
}
