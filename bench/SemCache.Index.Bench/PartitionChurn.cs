using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace SemCache.Index.Bench;

/// <summary>
/// The chat workload: many small partitions (one per conversation), searched at random, then emptied. Measures the
/// fixed cost of a search on a small (flat) partition, where the per-call partition bookkeeping weighs most, and
/// what is left after every partition has been emptied. Only the public API, so it runs against any build.
/// </summary>
internal static class PartitionChurn
{
    public static string Run(VectorSet all, int partitions, int perPartition)
    {
        var report = new StringBuilder();
        void Line(string s)
        {
            Console.WriteLine(s);
            report.AppendLine(s);
        }

        int threads = Environment.ProcessorCount;
        Line(string.Create(CultureInfo.InvariantCulture, $"### {partitions:N0} partitions x {perPartition} vectors ({all.Dimension}-d QQP), k = 5"));
        Line("");
        Line(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {threads} cores"));
        Line("");
        using var index = new PartitionedIndex(new VectorIndexOptions { Dimension = all.Dimension });
        long baseline = index.EstimateMemoryBytes();
        var sw = Stopwatch.StartNew();
        for (int p = 0; p < partitions; p++)
        {
            for (int i = 0; i < perPartition; i++)
            {
                index.Add(new PartitionKey((UInt128)p), i, all.Row(((p * perPartition) + i) % all.Count));
            }
        }

        double addSeconds = sw.Elapsed.TotalSeconds;
        long filled = index.EstimateMemoryBytes();
        float[][] queries = [.. Enumerable.Range(0, 512).Select(i => all.RowArray((i * 7919) % all.Count))];
        const int Searches = 200_000;

        double NsPerSearch(int workers)
        {
            double best = double.MaxValue;
            for (int round = 0; round < 3; round++)
            {
                var timer = Stopwatch.StartNew();
                Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
                {
                    var buffer = new SearchResult[5];
                    var random = new Random(w + (round * 100));
                    for (int s = w; s < Searches; s += workers)
                    {
                        index.Search(new PartitionKey((UInt128)random.Next(partitions)), queries[s & 511], 5, buffer);
                    }
                });
                best = Math.Min(best, timer.Elapsed.TotalNanoseconds / Searches);
            }

            return best;
        }

        double one = NsPerSearch(1), many = NsPerSearch(threads);
        one = Math.Min(one, NsPerSearch(1));
        many = Math.Min(many, NsPerSearch(threads));

        sw.Restart();
        for (int p = 0; p < partitions; p++)
        {
            for (int i = 0; i < perPartition; i++)
            {
                index.Remove(new PartitionKey((UInt128)p), i);
            }
        }

        double removeSeconds = sw.Elapsed.TotalSeconds;
        long emptied = index.EstimateMemoryBytes();
        Line("| adds/s | ns/search, 1 thread | ns/search (wall / searches), " + threads + " threads | removes/s | partitions after emptying | memory filled | memory after emptying |");
        Line("|---|---|---|---|---|---|---|");
        Line(string.Create(CultureInfo.InvariantCulture,
            $"| {partitions * perPartition / addSeconds:F0} | {one:F0} | {many:F0} | {partitions * perPartition / removeSeconds:F0} | {index.PartitionCount} | {(filled - baseline) / 1024.0 / 1024.0:F1} MiB | {(emptied - baseline) / 1024.0 / 1024.0:F1} MiB |"));
        return report.ToString();
    }
}
