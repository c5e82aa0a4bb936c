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

        Task[] searchers = [.. Enumerable.Range(0, 2).Select(s => Task.Run(() =>
        {
            var random = new Random(s);
            var buffer = new SearchResult[10];
            while (!stop.IsCancellationRequested)
            {
                long[] before = [.. removedDone.Keys];
                int n = index.Search(data[random.Next(data.Length)], 10, buffer);
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
        Task reader = Task.Run(() =>
        {
            var buffer = new SearchResult[5];
            for (int i = 0; i < 2000; i++)
            {
                int n = collection.Search(key, data[i % data.Length], 5, buffer);
                Assert.True(n <= 5);
            }
        }, TestContext.Current.CancellationToken);
        await Task.WhenAll([.. tasks, reader]);

        Assert.True(collection.IsGraph(key));
        Assert.Equal(data.Length, collection.CountOf(key));
        for (int i = 0; i < data.Length; i += 37)
        {
            Assert.Equal(i, collection.Search(key, data[i], 1)[0].Id);
        }
    }
}
