// Entry-store benchmarks. Usage:
//   dotnet run -c Release --project bench/SemCache.Storage.Bench -- throughput [seconds=3] [writers=32] [repeats=3]
//   dotnet run -c Release --project bench/SemCache.Storage.Bench -- recovery [entries=1000000]
//   dotnet run -c Release --project bench/SemCache.Storage.Bench -- eviction
//   dotnet run -c Release --project bench/SemCache.Storage.Bench -- setmany [seconds=3] [writers=8] [batch=16]
// Data directories go under $SEMCACHE_BENCH_DIR (default: the system temp directory) and are deleted afterwards.
using System.Diagnostics;
using System.Globalization;
using System.Text;
using SemCache.Storage;

var command = args.Length > 0 ? args[0] : "throughput";
var root = Environment.GetEnvironmentVariable("SEMCACHE_BENCH_DIR") ?? Path.GetTempPath();
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"# {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}"));
switch (command)
{
    case "throughput":
        await Throughput.RunAsync(root, Arg(1, 3), Arg(2, 32), Arg(3, 3));
        break;
    case "recovery":
        await Recovery.RunAsync(root, Arg(1, 1_000_000));
        break;
    case "eviction":
        await Eviction.RunAsync(root);
        break;
    case "setmany":
        await SetMany.RunAsync(root, Arg(1, 3), Arg(2, 8), Arg(3, 16));
        break;
    default:
        Console.Error.WriteLine("commands: throughput [seconds] [writers] [repeats] | recovery [entries] | eviction | setmany [seconds] [writers] [batch]");
        return 2;
}

return 0;

int Arg(int index, int fallback) => args.Length > index ? int.Parse(args[index], CultureInfo.InvariantCulture) : fallback;

internal static class Workload
{
    public const int Dimension = 384; // all-MiniLM-L6-v2
    public static readonly string Response = new('r', 1024);
    private static readonly float[] Vector = Enumerable.Range(0, Dimension).Select(i => i / 384f).ToArray();

    public static ExactKey Key(long n) => new(42, Encoding.UTF8.GetBytes("what is the answer to question number " + n.ToString(CultureInfo.InvariantCulture)));

    public static CacheEntry Entry(long n) => new()
    {
        Namespace = "bench",
        Attributes = [new("model", "gpt-4o")],
        ContextFingerprint = new byte[16],
        Prompt = "What is the answer to question number " + n.ToString(CultureInfo.InvariantCulture) + "?",
        Response = Response,
        Usage = new TokenUsage("gpt-4o", 20, 300),
        Vector = Vector,
    };

    public static EntryStoreOptions Options(string directory, DurabilityMode mode) => new()
    {
        DataDirectory = directory,
        Durability = mode,
        CheckpointInterval = TimeSpan.Zero, // checkpoints are measured separately
        SweepInterval = TimeSpan.Zero,
        HashIndexSizeBytes = 64L << 20,
    };

    public static string NewDirectory(string root) => Path.Combine(root, "semcache-bench-" + Guid.NewGuid().ToString("N"));

    public static void Delete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public static long DirectoryBytes(string directory) =>
        Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    public static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }
}

internal static class Throughput
{
    public static async Task RunAsync(string root, int seconds, int writers, int repeats)
    {
        Console.WriteLine($"## Set and exact Get throughput: 1 KiB response + {Workload.Dimension}-d vector, {writers} concurrent clients, {seconds} s per run, median of {repeats} runs (modes interleaved)");
        var sets = new Dictionary<DurabilityMode, List<double>>();
        var gets = new Dictionary<DurabilityMode, List<double>>();
        var singleStrict = new List<double>();
        var modes = new[] { DurabilityMode.Periodic, DurabilityMode.Strict, DurabilityMode.None };
        for (var r = 0; r < repeats; r++)
        {
            foreach (var mode in modes)
            {
                var (s, g) = await RunOnceAsync(root, mode, writers, seconds);
                (sets.TryGetValue(mode, out var sl) ? sl : sets[mode] = []).Add(s);
                (gets.TryGetValue(mode, out var gl) ? gl : gets[mode] = []).Add(g);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  run {r + 1} {mode,-8}: {s,10:N0} Sets/s  {g,10:N0} Gets/s"));
            }

            var (one, _) = await RunOnceAsync(root, DurabilityMode.Strict, 1, seconds, measureGets: false);
            singleStrict.Add(one);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  run {r + 1} Strict, 1 writer: {one,10:N0} Sets/s"));
        }

        Console.WriteLine();
        Console.WriteLine("| Durability | Sets/s (median) | exact Gets/s, record in memory (median) | Sets vs Periodic |");
        Console.WriteLine("|---|---:|---:|---:|");
        var periodic = Workload.Median(sets[DurabilityMode.Periodic]);
        foreach (var mode in modes)
        {
            var s = Workload.Median(sets[mode]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {mode} ({writers} writers) | {s:N0} | {Workload.Median(gets[mode]):N0} | {s / periodic:P0} |"));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| Strict (1 writer) | {Workload.Median(singleStrict):N0} | – | {Workload.Median(singleStrict) / periodic:P0} |"));
    }

    private static async Task<(double Sets, double Gets)> RunOnceAsync(string root, DurabilityMode mode, int writers, int seconds, bool measureGets = true)
    {
        var directory = Workload.NewDirectory(root);
        try
        {
            await using var store = await EntryStore.OpenAsync(Workload.Options(directory, mode));
            long next = 0;
            var stop = Stopwatch.StartNew();
            var deadline = TimeSpan.FromSeconds(seconds);
            var tasks = Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
            {
                while (stop.Elapsed < deadline)
                {
                    var n = Interlocked.Increment(ref next);
                    await store.SetAsync(Workload.Key(n), Workload.Entry(n));

                    // Each client request is its own work item, as in a server; without this, 32 loops that never
                    // await (Periodic/None Sets complete synchronously) monopolise the thread pool that FASTER's
                    // device I/O completes on.
                    await Task.Yield();
                }
            })).ToArray();
            await Task.WhenAll(tasks);
            var setRate = Volatile.Read(ref next) / stop.Elapsed.TotalSeconds;
            if (!measureGets)
            {
                return (setRate, 0);
            }

            // Gets of the newest 20,000 entries: records in FASTER's in-memory log in every mode, so the modes compare
            // like for like (older records may be on disk, and how many depends on how much each mode wrote).
            var written = Volatile.Read(ref next);
            var newest = Math.Min(written, 20_000);
            var keys = Enumerable.Range(0, 4096).Select(i => Workload.Key(written - (long)(Random.Shared.NextDouble() * newest))).ToArray();
            var gets = await MeasureGetsAsync(store, keys, writers, deadline);
            if (mode == DurabilityMode.None && written > 200_000)
            {
                // Oldest entries: spilled to the log file, so each Get is a disk read (page cache permitting).
                var oldKeys = Enumerable.Range(0, 4096).Select(i => Workload.Key(1 + (long)(Random.Shared.NextDouble() * 50_000))).ToArray();
                var disk = await MeasureGetsAsync(store, oldKeys, writers, deadline);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    None: {disk,10:N0} Gets/s of the oldest 50,000 of {written:N0} entries (records on disk)"));
            }

            return (setRate, gets);
        }
        finally
        {
            Workload.Delete(directory);
        }
    }

    private static async Task<double> MeasureGetsAsync(EntryStore store, ExactKey[] keys, int writers, TimeSpan deadline)
    {
        long reads = 0;
        long hits = 0;
        var stop = Stopwatch.StartNew();
        var readers = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var i = w * 131;
            while (stop.Elapsed < deadline)
            {
                var got = await store.GetByExactKeyAsync(keys[i++ & 4095]);
                Interlocked.Increment(ref reads);
                if (got is not null)
                {
                    Interlocked.Increment(ref hits);
                }

                await Task.Yield();
            }
        })).ToArray();
        await Task.WhenAll(readers);
        if (hits != reads)
        {
            throw new InvalidOperationException($"{reads - hits} of {reads} exact Gets missed");
        }

        return reads / stop.Elapsed.TotalSeconds;
    }
}

internal static class SetMany
{
    /// <summary>Strict-mode entries per second stored one SetAsync at a time vs in SetManyAsync batches (one commit per batch).</summary>
    public static async Task RunAsync(string root, int seconds, int writers, int batch)
    {
        Console.WriteLine($"## Strict durability: SetAsync one by one vs SetManyAsync batches of {batch}, {writers} concurrent clients, {seconds} s each, run twice interleaved");
        for (var r = 0; r < 2; r++)
        {
            var single = await RunOnceAsync(root, writers, seconds, 1);
            var many = await RunOnceAsync(root, writers, seconds, batch);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  run {r + 1}: SetAsync {single,10:N0} entries/s   SetManyAsync({batch}) {many,10:N0} entries/s   ratio {many / single:F1}x"));
        }
    }

    private static async Task<double> RunOnceAsync(string root, int writers, int seconds, int batch)
    {
        var directory = Workload.NewDirectory(root);
        try
        {
            await using var store = await EntryStore.OpenAsync(Workload.Options(directory, DurabilityMode.Strict));
            long next = 0;
            var stop = Stopwatch.StartNew();
            var deadline = TimeSpan.FromSeconds(seconds);
            await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
            {
                var writes = new EntryWrite[batch];
                while (stop.Elapsed < deadline)
                {
                    if (batch == 1)
                    {
                        var n = Interlocked.Increment(ref next);
                        await store.SetAsync(Workload.Key(n), Workload.Entry(n));
                    }
                    else
                    {
                        var first = Interlocked.Add(ref next, batch) - batch + 1;
                        for (var i = 0; i < batch; i++)
                        {
                            writes[i] = new EntryWrite(Workload.Key(first + i), Workload.Entry(first + i), null);
                        }

                        await store.SetManyAsync(writes);
                    }

                    await Task.Yield();
                }
            })));
            return Volatile.Read(ref next) / stop.Elapsed.TotalSeconds;
        }
        finally
        {
            Workload.Delete(directory);
        }
    }
}

internal static class Recovery
{
    public static async Task RunAsync(string root, int entries)
    {
        Console.WriteLine($"## Recovery of {entries:N0} entries (1 KiB response + {Workload.Dimension}-d vector each)");
        var directory = Workload.NewDirectory(root);
        try
        {
            var options = Workload.Options(directory, DurabilityMode.Periodic);
            var load = Stopwatch.StartNew();
            var store = await EntryStore.OpenAsync(options);
            long next = 0;
            var tail = entries / 10; // the last 10% stay in the write-ahead log only, for the crash case
            await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                long n;
                while ((n = Interlocked.Increment(ref next)) <= entries - tail)
                {
                    await store.SetAsync(Workload.Key(n), Workload.Entry(n));
                }
            })));
            var checkpoint = await store.CheckpointAsync();
            next = entries - tail;
            await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
            {
                long n;
                while ((n = Interlocked.Increment(ref next)) <= entries)
                {
                    await store.SetAsync(Workload.Key(n), Workload.Entry(n));
                }
            })));
            var stats = store.GetStatistics();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  loaded {stats.Entries:N0} entries in {load.Elapsed.TotalSeconds:F1} s ({stats.Entries / load.Elapsed.TotalSeconds:N0}/s, 8 writers, Periodic); checkpoint of {checkpoint.EntryCount:N0} entries took {checkpoint.Duration.TotalSeconds:F2} s"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  serialized record: {stats.Bytes / (double)stats.Entries:N0} bytes/entry"));

            // Crash: the last 10% are only in the committed write-ahead log.
            await store.SimulateCrashAsync(commitLog: true);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  data directory after the crash: {Workload.DirectoryBytes(directory) / (double)entries:N0} bytes/entry on disk (hybrid log + write-ahead log + checkpoints)"));
            var crash = await TimeOpenAsync(options, "crash (checkpoint + replay of the last 10%)");

            // Graceful: everything in the checkpoint taken at shutdown.
            var graceful = new List<double>();
            for (var i = 0; i < 3; i++)
            {
                graceful.Add(await TimeOpenAsync(options, $"graceful restart {i + 1}"));
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  data directory after graceful shutdown: {Workload.DirectoryBytes(directory) / (double)entries:N0} bytes/entry on disk"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  in-memory entry directory: {DirectoryBytesPerEntry(entries):N0} bytes/entry of managed heap"));
            Console.WriteLine();
            Console.WriteLine("| Recovery of " + entries.ToString("N0", CultureInfo.InvariantCulture) + " entries | seconds |");
            Console.WriteLine("|---|---:|");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| after graceful shutdown (median of 3) | {Workload.Median(graceful):F2} |"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| after a crash, replaying {tail:N0} logged Sets | {crash:F2} |"));
        }
        finally
        {
            Workload.Delete(directory);
        }
    }

    /// <summary>Managed heap taken by the in-memory directory (exact-key map, id map, TTL/recency metadata) per entry.</summary>
    private static double DirectoryBytesPerEntry(int entries)
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var directory = new EntryDirectory();
        for (var i = 1; i <= entries; i++)
        {
            directory.Add(new EntryMeta { Id = (ulong)i, ExactHash = new UInt128((ulong)i * 7919, (ulong)i), Partition = 42, Bytes = 2783, CreatedMs = i, ExpiresMs = long.MaxValue, LastHitMs = i });
        }

        var after = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(directory);
        return (after - before) / (double)entries;
    }

    private static async Task<double> TimeOpenAsync(EntryStoreOptions options, string label)
    {
        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var watch = Stopwatch.StartNew();
        var store = await EntryStore.OpenAsync(options);
        var seconds = watch.Elapsed.TotalSeconds;
        var after = GC.GetTotalMemory(forceFullCollection: true);
        var report = store.Recovery;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {label}: open took {seconds:F2} s ({report.EntryCount:N0} entries, checkpoint {report.CheckpointSequence}, {report.ReplayedOperations:N0} replayed, problems: {report.Problems.Count}); managed heap +{(after - before) / (double)report.EntryCount:N0} bytes/entry (directory + FASTER's in-memory log pages)"));
        await store.DisposeAsync();
        return seconds;
    }
}

internal static class Eviction
{
    /// <summary>Hit ratio of each eviction policy on a Zipf-distributed key stream (get, and set on a miss).</summary>
    public static async Task RunAsync(string root)
    {
        Console.WriteLine("## Eviction policy: hit ratio on a Zipf(s=1.0) stream over 50,000 keys, capacity 5,000 entries, 200,000 requests (get, set on miss); each policy run twice, interleaved (the first run includes JIT warm-up)");
        Console.WriteLine("| Policy | hit ratio | evictions | requests/s |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var policy in new[] { EvictionPolicy.Oldest, EvictionPolicy.LeastRecentlyHit, EvictionPolicy.Oldest, EvictionPolicy.LeastRecentlyHit })
        {
            var directory = Workload.NewDirectory(root);
            try
            {
                var clock = new StepClock();
                var options = Workload.Options(directory, DurabilityMode.None);
                options.MaxEntries = 5_000;
                options.Eviction = policy;
                await using var store = await EntryStore.OpenAsync(options, timeProvider: clock);
                var zipf = new Zipf(50_000, 1.0, seed: 7);
                long hits = 0;
                const int requests = 200_000;
                var watch = Stopwatch.StartNew();
                for (var i = 0; i < requests; i++)
                {
                    clock.Tick();
                    var key = zipf.Next();
                    if (await store.GetByExactKeyAsync(Workload.Key(key)) is not null)
                    {
                        hits++;
                    }
                    else
                    {
                        await store.SetAsync(Workload.Key(key), Workload.Entry(key));
                    }
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {policy} | {hits / (double)requests:P1} | {store.GetStatistics().Evictions:N0} | {requests / watch.Elapsed.TotalSeconds:N0} |"));
            }
            finally
            {
                Workload.Delete(directory);
            }
        }
    }

    private sealed class StepClock : TimeProvider
    {
        private long _ms = 1_800_000_000_000;

        public void Tick() => _ms++;

        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(_ms);
    }

    private sealed class Zipf
    {
        private readonly double[] _cdf;
        private readonly Random _random;

        public Zipf(int n, double s, int seed)
        {
            _random = new Random(seed);
            _cdf = new double[n];
            double sum = 0;
            for (var i = 0; i < n; i++)
            {
                sum += 1 / Math.Pow(i + 1, s);
                _cdf[i] = sum;
            }

            for (var i = 0; i < n; i++)
            {
                _cdf[i] /= sum;
            }
        }

        public long Next()
        {
            var index = Array.BinarySearch(_cdf, _random.NextDouble());
            return index >= 0 ? index : ~index;
        }
    }
}
