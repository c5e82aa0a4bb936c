using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace SemCache.Index.Bench;

/// <summary>Where does an HNSW graph start beating the exact flat scan? Single-thread latency by partition size.</summary>
internal static class Crossover
{
    public static string Run(VectorSet all)
    {
        var report = new StringBuilder();
        void Line(string s)
        {
            Console.WriteLine(s);
            report.AppendLine(s);
        }

        (VectorSet pool, VectorSet queries) = all.Split(500, seed: 5);
        Line("### Flat scan vs HNSW by partition size (k = 10, efSearch = 64, M = 16, efConstruction = 200, 1 thread)");
        Line("");
        Line(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {Environment.ProcessorCount} cores; {all.Dimension}-d"));
        Line("");
        Line("| vectors | flat µs/query | HNSW µs/query | HNSW recall@10 | flat / HNSW time |");
        Line("|---|---|---|---|---|");
        var key = new PartitionKey(1);
        foreach (int n in new[] { 256, 512, 1024, 2048, 4096, 8192, 16384 })
        {
            if (n > pool.Count)
            {
                break;
            }

            VectorSet data = pool.Take(n);
            using var flat = new PartitionedIndex(new VectorIndexOptions { Dimension = data.Dimension, FlatScanThreshold = int.MaxValue });
            using var graph = new PartitionedIndex(new VectorIndexOptions { Dimension = data.Dimension, FlatScanThreshold = 0 });
            Parallel.For(0, n, i => graph.Add(key, i, data.Row(i)));
            for (int i = 0; i < n; i++)
            {
                flat.Add(key, i, data.Row(i));
            }

            int[][] truth = Datasets.GroundTruth(data, queries, 10);
            float[][] rows = [.. Enumerable.Range(0, queries.Count).Select(queries.RowArray)];
            var buffer = new SearchResult[10];
            double Time(PartitionedIndex index)
            {
                double best = double.MaxValue;
                for (int round = 0; round < 5; round++)
                {
                    var sw = Stopwatch.StartNew();
                    foreach (float[] q in rows)
                    {
                        index.Search(key, q, 10, buffer);
                    }

                    best = Math.Min(best, sw.Elapsed.TotalMicroseconds / rows.Length);
                }

                return best;
            }

            // Interleave to share the noise.
            double tf = Time(flat), tg = Time(graph);
            tf = Math.Min(tf, Time(flat));
            tg = Math.Min(tg, Time(graph));
            long hits = 0;
            for (int q = 0; q < rows.Length; q++)
            {
                int found = graph.Search(key, rows[q], 10, buffer);
                var set = new HashSet<int>(truth[q]);
                hits += buffer.AsSpan(0, found).ToArray().Count(r => set.Contains((int)r.Id));
            }

            Line(string.Create(CultureInfo.InvariantCulture, $"| {n} | {tf:F1} | {tg:F1} | {hits / (rows.Length * 10.0):F4} | {tf / tg:F2} |"));
        }

        return report.ToString();
    }
}
