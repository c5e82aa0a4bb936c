using System.Diagnostics;
using System.Globalization;
using SemCache.Cache;
using SemCache.Embedding;
using SemCache.Index;
using SemCache.Storage;

namespace SemCache.Benchmarks;

/// <summary>
/// <c>bulk [qqp-dev.tsv] [questions] [batch]</c>: loads that many distinct Quora questions (in file order, so lengths
/// are mixed as users send them) through the engine's SetManyAsync in batches, the model embedding every prompt, and
/// prints entries per second. Not a BenchmarkDotNet run: one timed load after one warm-up batch.
/// </summary>
internal static class BulkLoadRun
{
    public static async Task<int> RunAsync(string[] args)
    {
        string path = args.Length > 0 ? args[0] : "../shared/data/qqp-dev.tsv";
        int count = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4_000;
        int batchSize = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 500;
        var questions = new List<string>(count + batchSize);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string line in File.ReadLines(path).Skip(1))
        {
            string[] fields = line.Split('\t');
            foreach (string q in fields.Skip(1))
            {
                if (questions.Count < count + batchSize && q.Length > 0 && seen.Add(q))
                {
                    questions.Add(q);
                }
            }
        }

        string directory = Path.Combine(Path.GetTempPath(), "semcache-bulk-" + Guid.NewGuid().ToString("N"));
        using TextEmbedder embedder = TextEmbedder.Create();
        await using SemanticCacheEngine engine = await SemanticCacheEngine.OpenAsync(
            new CacheOptions(),
            new EntryStoreOptions { DataDirectory = directory, Durability = DurabilityMode.Periodic },
            new VectorIndexOptions { Dimension = embedder.Dimension },
            embedder);
        try
        {
            CacheSetRequest[] Batch(int start, int length) => [.. questions.Skip(start).Take(length).Select(q => new CacheSetRequest { Namespace = "bulk", Prompt = q, Response = "cached answer" })];

            await engine.SetManyAsync(Batch(count, batchSize)); // warm-up: the model, the store, the index
            long calls = embedder.BatchCount;
            var timer = Stopwatch.StartNew();
            for (int start = 0; start < count; start += batchSize)
            {
                await engine.SetManyAsync(Batch(start, Math.Min(batchSize, count - start)));
            }

            double seconds = timer.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"bulk SetMany: {count:N0} questions in batches of {batchSize}: {seconds:F1} s, {count / seconds:F0} entries/s, {embedder.BatchCount - calls} model calls"));
            return 0;
        }
        finally
        {
            await engine.DisposeAsync();
            Directory.Delete(directory, recursive: true);
        }
    }
}
