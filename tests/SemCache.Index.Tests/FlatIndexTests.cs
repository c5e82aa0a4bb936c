namespace SemCache.Index.Tests;

public class FlatIndexTests
{
    private const int Dim = 1024;

    /// <summary>
    /// The flat scan's lock-free read (a seqlock) against writers that grow the rows and move the last row into every
    /// hole: a search must only ever return a consistent state, so each result's similarity is that of its own id's
    /// vector (a row read half way through a move would pair one id with another's floats), ids are distinct and
    /// results are sorted. On x64 this checks the protocol, not the ARM64 fence (x64 does not reorder loads with loads).
    /// </summary>
    [Fact]
    public async Task SearchesRacingWritersSeeOnlyConsistentRows()
    {
        using var index = new PartitionedIndex(new VectorIndexOptions { Dimension = Dim, FlatScanThreshold = int.MaxValue });
        var key = new PartitionKey(3);
        float[][] data = TestData.Clustered(96, Dim, 6, seed: 71);
        for (int i = 0; i < 32; i++)
        {
            index.Add(key, i, data[i]);
        }

        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        int writing = 1, searches = 0;
        Task writer = Task.Run(() =>
        {
            var random = new Random(1);
            for (int round = 0; round < 20_000; round++)
            {
                int id = 32 + random.Next(64);
                if (!index.TryAdd(key, id, data[id]))
                {
                    Assert.True(index.Remove(key, id));
                }
            }

            Volatile.Write(ref writing, 0);
        }, TestContext.Current.CancellationToken);

        Task reader = Task.Run(() =>
        {
            var random = new Random(2);
            var buffer = new SearchResult[16];
            for (int n = 0; n < 3_000 || Volatile.Read(ref writing) != 0; n++)
            {
                float[] query = data[random.Next(data.Length)];
                int found = index.Search(key, query, buffer.Length, buffer);
                searches++;
                if (found != buffer.Length)
                {
                    failures.Enqueue($"{found} results from a partition that always holds at least 32");
                }

                for (int r = 0; r < found; r++)
                {
                    long id = buffer[r].Id;
                    if (id is < 0 or >= 96)
                    {
                        failures.Enqueue($"id {id} was never added");
                        continue;
                    }

                    if (MathF.Abs(TestData.Dot(data[id], query) - buffer[r].Similarity) > 1e-4f)
                    {
                        failures.Enqueue($"id {id} came with another row's similarity");
                    }

                    if (r > 0 && (buffer[r - 1].Similarity < buffer[r].Similarity || buffer.AsSpan(0, r).ToArray().Any(x => x.Id == id)))
                    {
                        failures.Enqueue("results unsorted or repeated");
                    }
                }

                if (!index.Contains(key, random.Next(32)))
                {
                    failures.Enqueue("an id that is never removed was not found");
                }
            }
        }, TestContext.Current.CancellationToken);

        await Task.WhenAll(writer, reader);
        Assert.Empty(failures);
        Assert.True(searches >= 3_000);
    }
}
