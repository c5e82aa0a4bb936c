using System.Diagnostics;
using System.Globalization;
using System.Text;
using Cloud.Unum.USearch;

namespace SemCache.Index.Bench;

/// <summary>recall@10 against QPS across efSearch for our HNSW (f32, int8), USearch and the flat scan, side by side.</summary>
internal static class RecallBench
{
    private const int K = 10;

    public static readonly int[] EfValues = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256];

    public static string Run(string title, VectorSet data, VectorSet queries, int m, int efConstruction, bool withUSearch, bool withInt8, bool withFlat, int[] efValues, string? snapshotPath, bool churn = true)
    {
        int threads = Environment.ProcessorCount;
        var report = new StringBuilder();
        void Line(string s)
        {
            Console.WriteLine(s);
            report.AppendLine(s);
        }

        Line($"### {title}");
        Line("");
        Line(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {Environment.MachineName}; {threads} logical cores; {System.Runtime.InteropServices.RuntimeInformation.OSArchitecture}; .NET {Environment.Version}; kernel: {VectorMath.DotKernelName}"));
        Line($"base {data.Count} x {data.Dimension}-d, {queries.Count} queries, k = {K}, M = {m}, efConstruction = {efConstruction}");
        Line("");

        var sw = Stopwatch.StartNew();
        int[][] truth = Datasets.GroundTruth(data, queries, K);
        Line(string.Create(CultureInfo.InvariantCulture, $"ground truth (brute force, {threads} threads): {sw.Elapsed.TotalSeconds:F1} s"));

        var engines = new List<IEngine>();
        var builds = new List<string>();

        // Ours, f32.
        (OurHnswEngine ours, string oursBuild) = BuildOurs("SemCache HNSW f32", data, m, efConstruction, VectorQuantization.None, null, threads);
        engines.Add(ours);
        builds.Add(oursBuild);

        if (withInt8)
        {
            string dir = Path.Combine(Datasets.DataDirectory, "rescore");
            Directory.CreateDirectory(dir);
            (OurHnswEngine int8, string int8Build) = BuildOurs("SemCache HNSW int8", data, m, efConstruction, VectorQuantization.Int8, dir, threads);
            engines.Add(int8);
            builds.Add(int8Build.Replace("| SemCache HNSW int8 |", "| SemCache HNSW int8 (float rescoring rows in a memory-mapped file, not counted) |", StringComparison.Ordinal));
        }

        if (withUSearch)
        {
            (USearchEngine us, string usBuild) = BuildUSearch(data, m, efConstruction, threads);
            engines.Add(us);
            builds.Add(usBuild);
        }

        FlatEngine? flat = null;
        if (withFlat)
        {
            flat = FlatEngine.Build(data);
            engines.Add(flat);
        }

        Line("");
        Line("| index | build (s, " + threads + " threads) | memory / vector |");
        Line("|---|---|---|");
        foreach (string b in builds)
        {
            Line(b);
        }

        if (snapshotPath is not null)
        {
            Line("");
            SnapshotTiming(ours.Index, data, snapshotPath, Line);
        }

        // Interleave the engines within each ef and keep the best of 3 rounds: the machine is shared and noisy.
        Line("");
        Line("| index | efSearch | recall@10 | QPS 1 thread | QPS " + threads + " threads | p50 µs (1 thread) |");
        Line("|---|---|---|---|---|---|");
        var curves = new Dictionary<string, List<(double Recall, double Qps)>>();
        foreach (int ef in efValues)
        {
            foreach (IEngine engine in engines)
            {
                if (engine is FlatEngine && ef != efValues[0])
                {
                    continue;
                }

                engine.SetEf(ef);
                // The exact scan is slow on big sets: time it (and check its recall) on the first 200 queries only.
                VectorSet qs = engine is FlatEngine ? queries.Take(Math.Min(200, queries.Count)) : queries;
                double recall = Recall(engine, qs, truth);
                double best1 = 0, bestN = 0, p50 = 0;
                for (int round = 0; round < 3; round++)
                {
                    (double q1, double median) = Qps(engine, qs, 1);
                    if (q1 > best1)
                    {
                        best1 = q1;
                        p50 = median;
                    }

                    bestN = Math.Max(bestN, Qps(engine, qs, threads).Qps);
                }

                string efText = engine is FlatEngine ? "-" : ef.ToString(CultureInfo.InvariantCulture);
                Line(string.Create(CultureInfo.InvariantCulture, $"| {engine.Name} | {efText} | {recall:F4} | {best1:F0} | {bestN:F0} | {p50:F0} |"));
                if (engine is not FlatEngine)
                {
                    if (!curves.TryGetValue(engine.Name, out List<(double Recall, double Qps)>? c))
                    {
                        c = [];
                        curves[engine.Name] = c;
                    }

                    c.Add((recall, best1));
                }
            }
        }

        Line("");
        foreach (double target in new[] { 0.95, 0.98 })
        {
            var at = curves.ToDictionary(p => p.Key, p => QpsAtRecall(p.Value, target));
            string points = string.Join("; ", at.Select(p => p.Key + ": " + (double.IsNaN(p.Value) ? "not reached" : p.Value.ToString("F0", CultureInfo.InvariantCulture))));
            Line(string.Create(CultureInfo.InvariantCulture, $"QPS (1 thread) at recall@10 = {target:F2}, interpolated between efSearch points (the lowest ef's QPS when even it exceeds the target): {points}"));
            if (at.TryGetValue("SemCache HNSW f32", out double a) && at.TryGetValue("USearch f32", out double b) && !double.IsNaN(a) && !double.IsNaN(b))
            {
                Line(string.Create(CultureInfo.InvariantCulture, $"  ratio SemCache f32 / USearch f32 at {target:F2}: {a / b:F2}"));
            }
        }

        if (churn)
        {
            Line("");
            Churn(ours, data, queries, truth, threads, Line);
        }

        foreach (IEngine e in engines)
        {
            e.Dispose();
        }

        return report.ToString();
    }

    private static (OurHnswEngine, string) BuildOurs(string name, VectorSet data, int m, int efc, VectorQuantization q, string? rescoreDir, int threads)
    {
        var options = new VectorIndexOptions
        {
            Dimension = data.Dimension,
            M = m,
            EfConstruction = efc,
            Quantization = q,
            FlatScanThreshold = 0,
            InitialCapacity = data.Count,
            RescoreStorageDirectory = rescoreDir,
        };
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = GC.GetTotalMemory(true);
        var sw = Stopwatch.StartNew();
        var index = new PartitionedIndex(options);
        int added = 0;
        Parallel.For(0, data.Count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
        {
            index.Add(OurHnswEngine.Key, i, data.Row(i));
            if (Interlocked.Increment(ref added) % 100_000 == 0)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name}: {added} added in {sw.Elapsed.TotalSeconds:F0} s"));
            }
        });
        double seconds = sw.Elapsed.TotalSeconds;
        long after = GC.GetTotalMemory(true);
        double perVector = (after - before) / (double)data.Count;
        double estimate = index.EstimateMemoryBytes() / (double)data.Count;
        return (new OurHnswEngine(name, index), string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {seconds:F1} | {perVector:F0} B measured (GC heap delta), {estimate:F0} B by array sizes |"));
    }

    private static (USearchEngine, string) BuildUSearch(VectorSet data, int m, int efc, int threads)
    {
        // Ip on unit vectors is cosine without USearch's per-call norm computation: its fastest fair setting.
        var index = new USearchIndex(MetricKind.Ip, ScalarKind.Float32, (ulong)data.Dimension, (ulong)m, (ulong)efc, 64, false);
        USearchNative.PrepareForThreads(index, data.Count, threads);
        float[][] rows = [.. Enumerable.Range(0, data.Count).Select(data.RowArray)];
        var sw = Stopwatch.StartNew();
        Parallel.For(0, data.Count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => index.Add((ulong)i, rows[i]));
        double seconds = sw.Elapsed.TotalSeconds;
        double perVector = USearchNative.Memory(index) / (double)data.Count;
        return (new USearchEngine("USearch f32", index), string.Create(CultureInfo.InvariantCulture,
            $"| USearch {USearchCapabilities.Version()} f32 (Ip metric, {index.HardwareAcceleration()}) | {seconds:F1} | {perVector:F0} B (usearch_memory_usage) |"));
    }

    private static void SnapshotTiming(PartitionedIndex index, VectorSet data, string path, Action<string> line)
    {
        var sw = Stopwatch.StartNew();
        index.Save(path);
        double save = sw.Elapsed.TotalSeconds;
        long bytes = new FileInfo(path).Length;
        GC.Collect();
        sw.Restart();
        using PartitionedIndex loaded = PartitionedIndex.Load(path);
        double load = sw.Elapsed.TotalSeconds;
        bool same = loaded.Count == index.Count;
        line(string.Create(CultureInfo.InvariantCulture,
            $"snapshot of {data.Count} vectors: {bytes / 1048576.0:F0} MiB, save {save:F2} s (temp + fsync + rename), load {load:F2} s (checksum verified, no rebuild); counts match: {same}"));
        File.Delete(path);
    }

    private const long ChurnOffset = 100_000_000;

    /// <summary>
    /// Deletes a random 30% of the entries, then inserts the same vectors again under new ids, and measures recall at
    /// the default efSearch before and after (the ground truth is unchanged: ids map back to rows).
    /// </summary>
    private static void Churn(OurHnswEngine engine, VectorSet data, VectorSet queries, int[][] truth, int threads, Action<string> line)
    {
        engine.SetEf(VectorIndexOptions.DefaultEfSearch);
        double before = Recall(engine, queries, truth);
        int[] rows = [.. Enumerable.Range(0, data.Count)];
        new Random(7).Shuffle(rows);
        int[] victims = rows[..(data.Count * 3 / 10)];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = threads };
        var sw = Stopwatch.StartNew();
        Parallel.ForEach(victims, parallel, row =>
        {
            if (!engine.Index.Remove(OurHnswEngine.Key, row))
            {
                throw new InvalidOperationException($"row {row} was not in the index");
            }
        });
        double removeSeconds = sw.Elapsed.TotalSeconds;
        int[] remainingRows = rows[victims.Length..];
        var remaining = new VectorSet(new float[remainingRows.Length * data.Dimension], remainingRows.Length, data.Dimension);
        for (int i = 0; i < remainingRows.Length; i++)
        {
            data.Row(remainingRows[i]).CopyTo(remaining.Data.AsSpan(i * data.Dimension, data.Dimension));
        }

        int[][] remainingTruth = [.. Datasets.GroundTruth(remaining, queries, K).Select(t => t.Select(i => remainingRows[i]).ToArray())];
        double during = Recall(engine, queries, remainingTruth);
        var removedSet = new HashSet<int>(victims);
        var got = new long[K];
        for (int q = 0; q < queries.Count; q++)
        {
            int n = engine.Search(queries.RowArray(q), K, got);
            for (int i = 0; i < n; i++)
            {
                if (removedSet.Contains((int)(got[i] % ChurnOffset)))
                {
                    throw new InvalidOperationException("a removed id was returned");
                }
            }
        }

        sw.Restart();
        Parallel.ForEach(victims, parallel, row => engine.Index.Add(OurHnswEngine.Key, ChurnOffset + row, data.Row(row)));
        double addSeconds = sw.Elapsed.TotalSeconds;
        double after = Recall(engine, queries, truth);
        line(string.Create(CultureInfo.InvariantCulture,
            $"churn ({engine.Name}, efSearch {VectorIndexOptions.DefaultEfSearch}): recall@10 {before:F4} before; removed {victims.Length} (30%) in {removeSeconds:F1} s ({victims.Length / removeSeconds:F0}/s, {threads} threads), " +
            $"recall@10 over the remaining 70% {during:F4}; re-inserted them under new ids in {addSeconds:F1} s; recall@10 after {after:F4}; count {engine.Index.Count}"));
    }

    private static double Recall(IEngine engine, VectorSet queries, int[][] truth)
    {
        long hits = 0;
        var ids = new long[K];
        for (int q = 0; q < queries.Count; q++)
        {
            int n = engine.Search(queries.RowArray(q), K, ids);
            var set = new HashSet<int>(truth[q]);
            for (int i = 0; i < n; i++)
            {
                if (set.Contains((int)(ids[i] % ChurnOffset)))
                {
                    hits++;
                }
            }
        }

        return hits / (double)(queries.Count * K);
    }

    /// <summary>Runs every query (repeating until 0.3 s have passed) on <paramref name="threads"/> threads.</summary>
    private static (double Qps, double P50Micros) Qps(IEngine engine, VectorSet queries, int threads)
    {
        float[][] rows = [.. Enumerable.Range(0, queries.Count).Select(queries.RowArray)];
        long done = 0;
        var latencies = new double[queries.Count];
        var sw = Stopwatch.StartNew();
        do
        {
            if (threads == 1)
            {
                var ids = new long[K];
                for (int q = 0; q < rows.Length; q++)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    engine.Search(rows[q], K, ids);
                    latencies[q] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
                }
            }
            else
            {
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
                {
                    var ids = new long[K];
                    for (int q = t; q < rows.Length; q += threads)
                    {
                        engine.Search(rows[q], K, ids);
                    }
                });
            }

            done += rows.Length;
        }
        while (sw.Elapsed.TotalSeconds < 0.3);

        Array.Sort(latencies);
        return (done / sw.Elapsed.TotalSeconds, latencies[latencies.Length / 2]);
    }

    /// <summary>Linear interpolation of QPS on the recall axis (curve points sorted by recall).</summary>
    private static double QpsAtRecall(List<(double Recall, double Qps)> curve, double target)
    {
        var points = curve.OrderBy(p => p.Recall).ToList();
        for (int i = 0; i < points.Count; i++)
        {
            if (points[i].Recall >= target)
            {
                if (i == 0)
                {
                    return points[0].Qps;
                }

                (double r0, double q0) = points[i - 1];
                (double r1, double q1) = points[i];
                double t = (target - r0) / (r1 - r0);
                return q0 + (t * (q1 - q0));
            }
        }

        return double.NaN;
    }
}
