namespace SemCache.Index.Tests;

public class ConcurrencyTests
{
    private const int Dim = 32;

    /// <summary>
    /// Inserts, deletes and searches run at once on every core; afterwards the graph invariants hold, no removed id
    /// was ever returned once its Remove had completed, and recall is at target.
    /// </summary>
    [Fact]
    public async Task ParallelInsertsSearchesAndDeletesKeepTheGraphSound()
    {
        var options = new VectorIndexOptions { Dimension = Dim, M = 12, EfConstruction = 64, EfSearch = 64 };
        using var index = new HnswIndex(options);
        float[][] data = TestData.Clustered(6000, Dim, 30, seed: 21);

        // Phase 0: a base of 2000 so that searches have something to find.
        for (int i = 0; i < 2000; i++)
        {
            index.Add(i, data[i]);
        }

        // Removed ids, published once their Remove returned: a search that starts later must never see them.
        var removedDone = new System.Collections.Concurrent.ConcurrentDictionary<long, bool>();
        int violations = 0;
        using var stop = new CancellationTokenSource();
        int writers = Math.Max(2, Environment.ProcessorCount);

        Task[] inserters = [.. Enumerable.Range(0, writers).Select(w => Task.Run(() =>
        {
            for (int i = 2000 + w; i < 6000; i += writers)
            {
                index.Add(i, data[i]);
            }
        }, TestContext.Current.CancellationToken))];

        Task deleter = Task.Run(() =>
        {
            for (int i = 0; i < 2000; i += 3)
            {
                Assert.True(index.Remove(i));
                removedDone[i] = true;
            }
        }, TestContext.Current.CancellationToken);

        int searches = 0, emptySearches = 0;
        Task[] searchers = [.. Enumerable.Range(0, 2).Select(s => Task.Run(() =>
        {
            var random = new Random(s);
            var buffer = new SearchResult[10];
            // Until the writers stop, and at least 300 searches each, so that the check below is never vacuous.
            for (int i = 0; i < 300 || !stop.IsCancellationRequested; i++)
            {
                long[] before = [.. removedDone.Keys];
                int n = index.Search(data[random.Next(data.Length)], 10, buffer);
                Interlocked.Increment(ref searches);
                if (n < 10)
                {
                    Interlocked.Increment(ref emptySearches); // at least 1,333 vectors are live throughout
                }

                foreach (SearchResult r in buffer.AsSpan(0, n))
                {
                    if (Array.IndexOf(before, r.Id) >= 0)
                    {
                        Interlocked.Increment(ref violations);
                    }
                }
            }
        }, TestContext.Current.CancellationToken))];

        await Task.WhenAll([.. inserters, deleter]);
        await stop.CancelAsync();
        await Task.WhenAll(searchers);

        Assert.Equal(0, violations);
        Assert.True(searches >= 600, $"{searches} searches");
        Assert.Equal(0, emptySearches);
        var live = new Dictionary<long, float[]>();
        for (int i = 0; i < 6000; i++)
        {
            if (!(i < 2000 && i % 3 == 0))
            {
                live[i] = data[i];
            }
        }

        Assert.Equal(live.Count, index.Count);
        Assert.Empty(index.CheckInvariants(out int reachable));
        Assert.True(reachable >= live.Count * 0.995, $"reachable {reachable} of {live.Count}");
        foreach (long id in live.Keys)
        {
            Assert.True(index.Contains(id));
        }

        float[][] queries = TestData.Clustered(6150, Dim, 30, seed: 21)[6000..];
        double recall = TestData.Recall(live, queries, 10, q => index.Search(q, 10));
        Assert.True(recall >= 0.95, $"recall@10 after concurrent build = {recall:F4}");
    }

    /// <summary>
    /// Removes free slots and inserts of other ids refill them while searches run (int8, so results are rescored on
    /// the float rows): every result must carry the similarity of its own id's vector, never that of the node that
    /// held the slot when the traversal scored it, and TryGetVector must copy the vector of the id asked for.
    /// </summary>
    [Theory]
    [InlineData(VectorQuantization.None)]
    [InlineData(VectorQuantization.Int8)]
    public async Task SearchesRacingSlotReuseReportEachIdWithItsOwnVector(VectorQuantization quantization)
    {
        var options = new VectorIndexOptions { Dimension = Dim, M = 8, EfConstruction = 32, Quantization = quantization };
        using var index = new HnswIndex(options);
        float[][] data = TestData.Clustered(200, Dim, 5, seed: 23);
        for (int i = 0; i < 100; i++)
        {
            index.Add(i, data[i]);
        }

        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        int writing = 1;
        Task writer = Task.Run(() =>
        {
            // Ids 0..99 start in; each step swaps one in for one out, so freed slots are refilled at once by another id.
            var random = new Random(3);
            var inside = new List<int>(Enumerable.Range(0, 100));
            var outside = new List<int>(Enumerable.Range(100, 100));
            for (int step = 0; step < 4_000; step++)
            {
                int a = random.Next(inside.Count), b = random.Next(outside.Count);
                Assert.True(index.Remove(inside[a]));
                index.Add(outside[b], data[outside[b]]);
                (inside[a], outside[b]) = (outside[b], inside[a]);
            }

            Volatile.Write(ref writing, 0);
        }, TestContext.Current.CancellationToken);

        Task reader = Task.Run(() =>
        {
            var random = new Random(4);
            var buffer = new SearchResult[10];
            var vector = new float[Dim];
            for (int n = 0; n < 2_000 || Volatile.Read(ref writing) != 0; n++)
            {
                float[] query = data[random.Next(data.Length)];
                int found = index.Search(query, 10, buffer);
                for (int r = 0; r < found; r++)
                {
                    float expected = TestData.Dot(data[buffer[r].Id], query);
                    if (MathF.Abs(expected - buffer[r].Similarity) > 1e-4f)
                    {
                        failures.Enqueue($"id {buffer[r].Id}: similarity {buffer[r].Similarity}, its vector gives {expected}");
                    }
                }

                int probe = random.Next(data.Length);
                if (index.TryGetVector(probe, vector) && MathF.Abs(TestData.Dot(vector, data[probe]) - 1f) > 1e-4f)
                {
                    failures.Enqueue($"TryGetVector({probe}) copied another id's vector");
                }
            }
        }, TestContext.Current.CancellationToken);

        await Task.WhenAll(writer, reader);
        Assert.Empty(failures);
        Assert.Equal(100, index.Count);
        Assert.Empty(index.CheckInvariants(out _));
    }

    [Fact]
    public async Task PartitionUpgradeUnderConcurrentWritersAndReaders()
    {
        var options = new VectorIndexOptions { Dimension = Dim, FlatScanThreshold = 300, EfConstruction = 64 };
        using var collection = new PartitionedIndex(options);
        PartitionKey key = PartitionKey.FromString("tenant/a");
        float[][] data = TestData.Clustered(1200, Dim, 10, seed: 22);
        int writers = Math.Max(2, Environment.ProcessorCount);

        Task[] tasks = [.. Enumerable.Range(0, writers).Select(w => Task.Run(() =>
        {
            for (int i = w; i < data.Length; i += writers)
            {
                collection.Add(key, i, data[i]);
            }
        }, TestContext.Current.CancellationToken))];
        int writersLeft = writers, searches = 0;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        Task[] countdown = [.. tasks.Select(t => t.ContinueWith(_ => Interlocked.Decrement(ref writersLeft), TaskScheduler.Default))];
        Task reader = Task.Run(() =>
        {
            var buffer = new SearchResult[5];
            // Through the flat phase, the rebuild into a graph and the graph phase: until the writers are done.
            for (int i = 0; i < 2000 || Volatile.Read(ref writersLeft) > 0; i++)
            {
                float[] query = data[i % data.Length];
                int before = collection.CountOf(key);
                int n = collection.Search(key, query, 5, buffer);
                searches++;
                if (n < Math.Min(5, before))
                {
                    failures.Enqueue($"{n} results while the partition held {before}");
                }

                for (int r = 0; r < n; r++)
                {
                    long id = buffer[r].Id;
                    if (id is < 0 or >= 1200 || MathF.Abs(TestData.Dot(data[id], query) - buffer[r].Similarity) > 1e-4f)
                    {
                        failures.Enqueue($"result {id} with similarity {buffer[r].Similarity} is not that id's");
                    }
                    else if (r > 0 && buffer[r].Similarity > buffer[r - 1].Similarity)
                    {
                        failures.Enqueue("results are not sorted");
                    }
                }
            }
        }, TestContext.Current.CancellationToken);
        await Task.WhenAll([.. tasks, .. countdown, reader]);

        Assert.Empty(failures);
        Assert.True(searches >= 2000);

        Assert.True(collection.IsGraph(key));
        Assert.Equal(data.Length, collection.CountOf(key));
        for (int i = 0; i < data.Length; i += 37)
        {
            Assert.Equal(i, collection.Search(key, data[i], 1)[0].Id);
        }
    }
}
