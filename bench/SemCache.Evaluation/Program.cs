using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using SemCache.Embedding;
using SemCache.Evaluation;

// Evaluations of the embedding engine.
//   semcache-eval stsb [path-to-stsb-test.tsv] [--expected 0.8203] [--tolerance 0.002] [--precision Float32|Int8]
//     exits 1 when the Spearman correlation falls outside expected ± tolerance, so CI catches a pipeline drift.
//   semcache-eval speed [--seconds 10] [--window-us 300] [--threads 0] [--precision Float32|Int8]
//     the workloads that bench/peers/node/embed-peers.mjs runs on other stacks, as one JSON line.
//   semcache-eval qqp [qqp-dev.tsv] [--limit 5000] [--threshold 0.90] [--tolerance 0.01] [--precision Int8]
//     cache precision and recall on Quora duplicate pairs, Float32 beside the given precision; exits 1 when they differ
//     by more than the tolerance.
// Every command also takes --model <model.onnx> (with the bundled vocabulary) to measure another model file.
return args.Length > 0 ? args[0] switch
{
    "stsb" => await Stsb.RunAsync(args[1..]),
    "speed" => await Speed.RunAsync(args[1..]),
    "qqp" => await Qqp.RunAsync(args[1..]),
    _ => Usage(),
} : Usage();

static int Usage()
{
    Console.Error.WriteLine("usage: semcache-eval stsb [stsb-test.tsv] [--expected 0.8203] [--tolerance 0.002] [--precision Float32|Int8]");
    Console.Error.WriteLine("       semcache-eval speed [--seconds 10] [--window-us 300] [--threads 0] [--precision Float32|Int8]");
    Console.Error.WriteLine("       semcache-eval qqp [qqp-dev.tsv] [--limit 5000] [--threshold 0.90] [--tolerance 0.01] [--precision Int8]");
    Console.Error.WriteLine("       (each: [--model model.onnx] for another model file with the bundled vocabulary)");
    return 2;
}

internal static class Stsb
{
    public static async Task<int> RunAsync(string[] args)
    {
        string path = "../shared/data/stsb-test.tsv";
        double expected = 0.8203;
        double tolerance = 0.002;
        EmbeddingOptions options = ModelFlags.Take(ref args);
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--expected": expected = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--tolerance": tolerance = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default: path = args[i]; break;
            }
        }

        if (!File.Exists(path))
        {
            Console.Error.WriteLine($"STS Benchmark file not found: {path}");
            return 2;
        }

        var gold = new List<double>();
        var first = new List<string>();
        var second = new List<string>();
        foreach (string line in File.ReadLines(path).Skip(1))
        {
            string[] fields = line.Split('\t');
            if (fields.Length < 3)
            {
                continue;
            }

            gold.Add(double.Parse(fields[0], CultureInfo.InvariantCulture));
            first.Add(fields[1]);
            second.Add(fields[2]);
        }

        await using TextEmbedder embedder = TextEmbedder.Create(options);
        long started = Stopwatch.GetTimestamp();
        EmbeddingResult[] a = await embedder.EmbedManyAsync(first);
        EmbeddingResult[] b = await embedder.EmbedManyAsync(second);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(started);
        var cosine = new double[gold.Count];
        for (int i = 0; i < cosine.Length; i++)
        {
            cosine[i] = TensorPrimitives.CosineSimilarity(a[i].Vector, b[i].Vector);
        }

        double spearman = Spearman(cosine, gold.ToArray());
        bool ok = Math.Abs(spearman - expected) <= tolerance;
        Console.WriteLine(FormattableString.Invariant(
            $"STS-B test: {gold.Count} pairs, model {embedder.ModelName} {options.Precision}, cosine Spearman {spearman:F4} (published {expected:F4} ± {tolerance:F4}): {(ok ? "PASS" : "FAIL")}"));
        Console.WriteLine(FormattableString.Invariant(
            $"embedded {2 * gold.Count} sentences in {elapsed.TotalSeconds:F1} s ({2 * gold.Count / elapsed.TotalSeconds:F0}/s) in {embedder.BatchCount} model calls"));
        return ok ? 0 : 1;
    }

    // Spearman's rho: Pearson correlation of the ranks, ties given their average rank (as scipy.stats.spearmanr).
    internal static double Spearman(double[] x, double[] y) => Pearson(Ranks(x), Ranks(y));

    private static double[] Ranks(double[] values)
    {
        int[] order = Enumerable.Range(0, values.Length).ToArray();
        Array.Sort(values.ToArray(), order);
        var ranks = new double[values.Length];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && values[order[j + 1]] == values[order[i]])
            {
                j++;
            }

            double rank = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++)
            {
                ranks[order[k]] = rank;
            }

            i = j + 1;
        }

        return ranks;
    }

    private static double Pearson(double[] x, double[] y)
    {
        double mx = x.Average(), my = y.Average();
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }

        return sxy / Math.Sqrt(sxx * syy);
    }
}
