using System.Diagnostics;
using System.Globalization;
using SemCache.Cache;
using SemCache.Embedding;
using SemCache.Index;
using SemCache.Storage;

namespace SemCache.Benchmarks;

/// <summary>
/// <c>recovery [entries] [partitions]</c>: how long the whole engine (store and vector index together) takes to open
/// over a data directory of that many entries with 384-d vectors, after a graceful shutdown (index snapshot used and
/// checked against the store) and without an index snapshot (rebuilt from the stored vectors). Not a BenchmarkDotNet
/// run: each open is one measurement of seconds, printed as a table.
/// </summary>
internal static class EngineRecoveryRun
{
    public static async Task<int> RunAsync(string[] args)
    {
        int entries = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1_000_000;
        int partitions = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1_000;
        string directory = Path.Combine(Path.GetTempPath(), "semcache-engine-recovery-" + Guid.NewGuid().ToString("N"));
        using TextEmbedder embedder = TextEmbedder.Create();
        var store = new EntryStoreOptions { DataDirectory = directory, Durability = DurabilityMode.Periodic, CheckpointInterval = TimeSpan.Zero };
        var index = new VectorIndexOptions { Dimension = embedder.Dimension };
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {entries:N0} entries of 384-d vectors in {partitions:N0} partitions"));
        try
        {
            var started = Stopwatch.StartNew();
            SemanticCacheEngine engine = await SemanticCacheEngine.OpenAsync(new CacheOptions(), store, index, embedder);
            var random = new Random(42);
            var batch = new List<CacheSetRequest>(1000);
            for (int i = 0; i < entries; i++)
            {
                var v = new float[embedder.Dimension];
                for (int d = 0; d < v.Length; d++)
                {
                    v[d] = (float)(random.NextDouble() - 0.5);
                }

                batch.Add(new CacheSetRequest
                {
                    Namespace = "bench",
                    Prompt = string.Create(CultureInfo.InvariantCulture, $"prompt {i}"),
                    Response = "a short cached answer of about sixty characters, for the bench",
                    Attributes = [new("conversation", (i % partitions).ToString(CultureInfo.InvariantCulture))],
                    Vector = v,
                });
                if (batch.Count == 1000)
                {
                    await engine.SetManyAsync(batch);
                    batch.Clear();
                }
            }

            await engine.SetManyAsync(batch);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  loaded in {started.Elapsed.TotalSeconds:F1} s"));
            await engine.DisposeAsync();

            var rows = new List<(string Case, double Seconds, string Source, long Vectors)>();
            for (int run = 0; run < 3; run++)
            {
                var open = Stopwatch.StartNew();
                engine = await SemanticCacheEngine.OpenAsync(new CacheOptions(), store, index, embedder);
                rows.Add(("after graceful shutdown (snapshot)", open.Elapsed.TotalSeconds, engine.Recovery.IndexSource, engine.Recovery.IndexedVectors));
                await engine.DisposeAsync();
            }

            Directory.Delete(Path.Combine(directory, "index"), recursive: true);
            var rebuild = Stopwatch.StartNew();
            engine = await SemanticCacheEngine.OpenAsync(new CacheOptions(), store, index, embedder);
            rows.Add(("without an index snapshot (rebuilt)", rebuild.Elapsed.TotalSeconds, engine.Recovery.IndexSource, engine.Recovery.IndexedVectors));
            await engine.DisposeAsync();

            Console.WriteLine();
            Console.WriteLine("| Engine open | seconds | index | vectors |");
            Console.WriteLine("|---|---:|---|---:|");
            foreach ((string name, double seconds, string source, long vectors) in rows)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {seconds:F2} | {source} | {vectors:N0} |"));
            }

            return 0;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
