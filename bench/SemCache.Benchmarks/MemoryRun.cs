using System.Globalization;
using System.Runtime;
using System.Text;
using SemCache.Cache;
using SemCache.Embedding;
using SemCache.Index;
using SemCache.Storage;

namespace SemCache.Benchmarks;

/// <summary>
/// <c>memory [--entries 100000,1000000] [--quantization Float32|Int8] [--durability Periodic|Strict|None] [--rescore-dir DIR]</c>:
/// the process's memory per cache entry. Measures the process alone, then with the model loaded, then with an empty
/// engine open (the fixed costs), then Sets entries (one namespace, distinct prompts of ~100 and responses of ~200 ASCII
/// characters, random unit 384-d vectors given by the caller, so the model never runs) through SetManyAsync in batches
/// of 1,000 and, at each requested count, after a full blocking compacting GC, prints RSS, the GC heap, committed
/// memory and the layer breakdown the store and the index report. Not a BenchmarkDotNet run: one load, one table.
/// </summary>
internal static class MemoryRun
{
    private const int BatchSize = 1_000;

    private static readonly string[] Topics =
    [
        "connection pool", "retry policy", "TLS certificate", "rate limiter", "cache eviction", "log rotation",
        "health check", "load balancer", "database index", "message queue", "feature flag", "access token",
    ];

    public static async Task<int> RunAsync(string[] args)
    {
        int[] counts = [100_000, 1_000_000];
        VectorQuantization quantization = VectorQuantization.None;
        DurabilityMode durability = DurabilityMode.Periodic;
        string? rescoreDirectory = null;
        for (int a = 0; a < args.Length - 1; a += 2)
        {
            switch (args[a])
            {
                case "--entries":
                    counts = [.. args[a + 1].Split(',').Select(static c => int.Parse(c, CultureInfo.InvariantCulture)).Order()];
                    break;
                case "--quantization":
                    quantization = args[a + 1].Equals("Int8", StringComparison.OrdinalIgnoreCase) ? VectorQuantization.Int8 : VectorQuantization.None;
                    break;
                case "--durability":
                    durability = Enum.Parse<DurabilityMode>(args[a + 1], ignoreCase: true);
                    break;
                case "--rescore-dir":
                    rescoreDirectory = args[a + 1];
                    break;
                default:
                    Console.Error.WriteLine($"unknown option {args[a]}");
                    return 2;
            }
        }

        string directory = Path.Combine(Path.GetTempPath(), "semcache-memory-" + Guid.NewGuid().ToString("N"));
        string quantizationName = quantization == VectorQuantization.Int8 ? "Int8" : "Float32";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}, {quantizationName}, {durability}, rescore rows {(rescoreDirectory is null ? "on the heap" : "mapped in " + rescoreDirectory)}, Server GC {GCSettings.IsServerGC}"));
        var rows = new List<(string Stage, Sample Sample)>();

        Sample bare = Sample.Take();
        rows.Add(("process, nothing loaded", bare));
        using TextEmbedder embedder = TextEmbedder.Create();
        Sample model = Sample.Take();
        rows.Add(("model loaded", model));

        var storeOptions = new EntryStoreOptions { DataDirectory = directory, Durability = durability };
        var indexOptions = new VectorIndexOptions { Dimension = embedder.Dimension, Quantization = quantization, RescoreStorageDirectory = rescoreDirectory };
        SemanticCacheEngine engine = await SemanticCacheEngine.OpenAsync(new CacheOptions(), storeOptions, indexOptions, embedder);
        try
        {
            Sample empty = Sample.Take();
            rows.Add(("empty engine open", empty));
            StoreMemory emptyStore = engine.Memory().Store;
            IndexMemory emptyIndex = engine.Memory().Index;
            PrintLayers("empty engine", engine, 0, 0, default, default);

            var random = new Random(42);
            long textUtf8 = 0;
            int loaded = 0;
            var batch = new List<CacheSetRequest>(BatchSize);
            foreach (int target in counts)
            {
                while (loaded < target)
                {
                    batch.Clear();
                    for (int i = 0; i < BatchSize && loaded < target; i++, loaded++)
                    {
                        CacheSetRequest request = Entry(loaded, random, embedder.Dimension);
                        textUtf8 += Encoding.UTF8.GetByteCount(request.Prompt!) + Encoding.UTF8.GetByteCount(request.Response!);
                        batch.Add(request);
                    }

                    await engine.SetManyAsync(batch);
                }

                batch.Clear();
                Sample at = Sample.Take();
                rows.Add((string.Create(CultureInfo.InvariantCulture, $"{target:N0} entries"), at));
                double text = (double)textUtf8 / target;
                Console.WriteLine();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"## {target:N0} entries: prompt + response {text:F0} bytes of UTF-8 per entry (as the store's records hold them)"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"RSS beyond the empty engine: {(double)(at.Rss - empty.Rss) / target:F0} B/entry, minus text {((double)(at.Rss - empty.Rss) / target) - text:F0} B/entry; anonymous RSS {(double)(at.RssAnon - empty.RssAnon) / target:F0} B/entry; GC heap {(double)(at.Heap - empty.Heap) / target:F0} B/entry; GC committed {(double)(at.Committed - empty.Committed) / target:F0} B/entry"));
                PrintLayers(string.Create(CultureInfo.InvariantCulture, $"{target:N0} entries"), engine, target, at.Rss - empty.Rss, emptyStore, emptyIndex);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"GC heap by generation after the full GC (MiB, size / fragmentation): {at.Generations}"));
            }

            Console.WriteLine();
            Console.WriteLine("| Stage | RSS MiB | anon RSS MiB | file RSS MiB | GC heap MiB | GC committed MiB |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|");
            foreach ((string stage, Sample s) in rows)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {stage} | {Mib(s.Rss)} | {Mib(s.RssAnon)} | {Mib(s.RssFile)} | {Mib(s.Heap)} | {Mib(s.Committed)} |"));
            }

            return 0;
        }
        finally
        {
            await engine.DisposeAsync();
            Directory.Delete(directory, recursive: true);
        }
    }

    private static string Mib(long bytes) => (bytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture);

    // Distinct prompts of about 100 characters and responses of about 200, all ASCII (one UTF-8 byte per character).
    private static CacheSetRequest Entry(int i, Random random, int dimension)
    {
        var vector = new float[dimension];
        double norm = 0;
        for (int d = 0; d < dimension; d++)
        {
            vector[d] = (float)(random.NextDouble() - 0.5);
            norm += vector[d] * vector[d];
        }

        float scale = (float)(1 / Math.Sqrt(norm));
        for (int d = 0; d < dimension; d++)
        {
            vector[d] *= scale;
        }

        string topic = Topics[i % Topics.Length];
        return new CacheSetRequest
        {
            Namespace = "memory",
            Prompt = string.Create(CultureInfo.InvariantCulture, $"How should I set up the {topic} of service number {i:D7} so that it keeps working under heavy load?"),
            Response = string.Create(CultureInfo.InvariantCulture, $"For service {i:D7}, configure the {topic} with conservative limits first, measure under a realistic load, then raise them step by step; keep the defaults documented and alert when the {topic} saturates."),
            Vector = vector,
        };
    }

    // Each layer's bytes now, and per entry its growth over the empty engine (so fixed buffers allocated at open do not
    // count per entry, while those FASTER fills as the log grows, up to its budget, do).
    private static void PrintLayers(string title, SemanticCacheEngine engine, long entries, long rssDelta, StoreMemory emptyStore, IndexMemory emptyIndex)
    {
        (StoreMemory store, IndexMemory index) = engine.Memory();
        long directory = DirectoryCost(store.Entries);
        double Per(long bytes) => entries == 0 ? 0 : (double)bytes / entries;
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{title}: FASTER log {store.LogInMemoryBytes / 1048576.0:F1} MiB in memory, {store.LogOnDiskBytes / 1048576.0:F1} MiB spilled to disk; records {store.RecordBytes / 1048576.0:F1} MiB ({Per(store.RecordBytes):F0} B each)"));
        Console.WriteLine("| Layer | MiB | B/entry (growth over the empty engine) |");
        Console.WriteLine("|---|---:|---:|");
        (string Name, long Bytes, long Empty)[] layers =
        [
            ("FASTER hybrid log pages (allocated)", store.LogAllocatedBytes, emptyStore.LogAllocatedBytes),
            ("FASTER hash index (buckets + overflow)", store.HashIndexBytes, emptyStore.HashIndexBytes),
            ("write-ahead-log buffer (its budget)", store.WalMemoryBytes, emptyStore.WalMemoryBytes),
            ("entry directory (one built alike, measured)", directory, 0),
            ("index: float vector rows (heap)", index.Vectors, emptyIndex.Vectors),
            ("index: int8 codes + scales", index.QuantizedCodes, emptyIndex.QuantizedCodes),
            ("index: level-0 links", index.Level0Links, emptyIndex.Level0Links),
            ("index: upper-level links", index.UpperLinks, emptyIndex.UpperLinks),
            ("index: node state (ids, levels, states, locks, generations)", index.NodeState, emptyIndex.NodeState),
            ("index: id → slot map", index.IdMap, emptyIndex.IdMap),
            ("index: per-partition objects", index.Partitions, emptyIndex.Partitions),
        ];
        long sum = 0, grown = 0;
        foreach ((string name, long bytes, long before) in layers)
        {
            sum += bytes;
            grown += bytes - before;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {bytes / 1048576.0:F1} | {Per(bytes - before):F0} |"));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| sum of layers | {sum / 1048576.0:F1} | {Per(grown):F0} |"));
        if (index.MappedVectors > 0)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| (float rows in mapped files, not in the sum) | {index.MappedVectors / 1048576.0:F1} | {Per(index.MappedVectors):F0} |"));
        }

        if (entries > 0)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| measured RSS growth over the empty engine | {rssDelta / 1048576.0:F1} | {Per(rssDelta):F0} |"));
        }
    }

    // The directory's cost, measured: a directory of the same number of entries built alone in this process, its GC
    // heap delta (the engine's own directory cannot be isolated from the rest of the heap).
    private static long DirectoryCost(long entries)
    {
        if (entries == 0)
        {
            return 0;
        }

        long before = Sample.Take().Heap;
        var directory = new EntryDirectory();
        for (long i = 0; i < entries; i++)
        {
            directory.Add(new EntryMeta { Id = (ulong)i + 1, ExactHash = new UInt128((ulong)i * 0x9E3779B97F4A7C15UL, (ulong)i), Partition = 7, NamespaceHash = 11, Bytes = 2000, VectorDimension = 384 });
        }

        long after = Sample.Take().Heap;
        GC.KeepAlive(directory);
        return after - before;
    }

    private readonly record struct Sample(long Rss, long RssAnon, long RssFile, long Heap, long Committed, string Generations)
    {
        public static Sample Take()
        {
            for (int i = 0; i < 2; i++)
            {
                GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
            }

            GCMemoryInfo info = GC.GetGCMemoryInfo(GCKind.Any);
            long rss = 0, anon = 0, file = 0;
            foreach (string line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rss = Kib(line);
                }
                else if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                {
                    anon = Kib(line);
                }
                else if (line.StartsWith("RssFile:", StringComparison.Ordinal))
                {
                    file = Kib(line);
                }
            }

            string[] names = ["gen0", "gen1", "gen2", "LOH", "POH"];
            var generations = new StringBuilder();
            for (int g = 0; g < info.GenerationInfo.Length && g < names.Length; g++)
            {
                GCGenerationInfo gi = info.GenerationInfo[g];
                generations.Append(CultureInfo.InvariantCulture, $"{names[g]} {gi.SizeAfterBytes / 1048576.0:F1}/{gi.FragmentationAfterBytes / 1048576.0:F1} ");
            }

            return new Sample(rss, anon, file, GC.GetTotalMemory(forceFullCollection: false), info.TotalCommittedBytes, generations.ToString().TrimEnd());
        }

        private static long Kib(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }
}
