using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using SemCache.Embedding;

namespace SemCache.Evaluation;

/// <summary>
/// A semantic cache on Quora duplicate pairs, with exact search: the q1s of the first N pairs are stored, each q2 is
/// looked up among them by brute-force cosine, and a hit is its best q1 at or above the threshold. A hit is right only
/// if the pair is a duplicate and its own q1 came back (stored once per distinct text, as the cache stores a prompt).
/// precision = right / hits, recall = right / duplicates. Float32 and the asked precision run side by side.
/// </summary>
internal static class Qqp
{
    public static async Task<int> RunAsync(string[] args)
    {
        EmbeddingOptions options = ModelFlags.Take(ref args);
        string path = "../shared/data/qqp-dev.tsv";
        int limit = 5000;
        float threshold = 0.90f;
        double tolerance = 0.01;
        string? variantModel = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--limit": limit = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--threshold": threshold = float.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--tolerance": tolerance = double.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--variant-model": variantModel = args[++i]; break;
                default: path = args[i]; break;
            }
        }

        if (!File.Exists(path))
        {
            Console.Error.WriteLine($"QQP file not found: {path}");
            return 2;
        }

        var stored = new List<string>();
        var storedIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var queries = new List<string>();
        var own = new List<int>();
        var duplicate = new List<bool>();
        foreach (string line in File.ReadLines(path).Skip(1))
        {
            string[] fields = line.Split('\t');
            if (fields.Length < 3)
            {
                continue;
            }

            if (!storedIndex.TryGetValue(fields[1], out int entry))
            {
                entry = stored.Count;
                storedIndex.Add(fields[1], entry);
                stored.Add(fields[1]);
            }

            duplicate.Add(fields[0] == "1");
            own.Add(entry);
            queries.Add(fields[2]);
            if (queries.Count == limit)
            {
                break;
            }
        }

        int duplicates = duplicate.Count(d => d);
        Console.WriteLine(FormattableString.Invariant(
            $"QQP dev: first {queries.Count} pairs ({duplicates} duplicates), {stored.Count} distinct q1 stored, threshold {threshold:F2}"));

        // The second column: the asked precision, or (--variant-model, to compare rewrites) another model file as it is.
        ModelPrecision asked = options.Precision;
        int runs = asked == ModelPrecision.Float32 && variantModel is null ? 1 : 2;
        var figures = new List<(double Precision, double Recall)>();
        var vectors = new List<float[]>();
        var labels = new List<string>();
        for (int run = 0; run < runs; run++)
        {
            options.Precision = run == 0 ? ModelPrecision.Float32 : asked;
            if (run == 1 && variantModel is not null)
            {
                options.ModelPath = variantModel;
                options.VocabPath = Path.Combine(AppContext.BaseDirectory, "models", EmbeddingOptions.DefaultModelName, "vocab.txt");
                options.ModelName = EmbeddingOptions.DefaultModelName;
            }

            string label = run == 1 && variantModel is not null ? Path.GetFileName(variantModel) : options.Precision.ToString();
            labels.Add(label);
            await using TextEmbedder embedder = TextEmbedder.Create(options);
            long started = Stopwatch.GetTimestamp();
            float[] keys = await EmbedAsync(embedder, stored);
            float[] probes = await EmbedAsync(embedder, queries);
            TimeSpan elapsed = Stopwatch.GetElapsedTime(started);
            vectors.Add([.. keys, .. probes]);
            int dimension = embedder.Dimension;
            int hits = 0, right = 0;
            for (int q = 0; q < queries.Count; q++)
            {
                ReadOnlySpan<float> probe = probes.AsSpan(q * dimension, dimension);
                int best = -1;
                float bestScore = float.NegativeInfinity;
                for (int k = 0; k < stored.Count; k++)
                {
                    float score = TensorPrimitives.Dot(probe, keys.AsSpan(k * dimension, dimension));
                    if (score > bestScore)
                    {
                        bestScore = score;
                        best = k;
                    }
                }

                if (bestScore >= threshold)
                {
                    hits++;
                    if (duplicate[q] && best == own[q])
                    {
                        right++;
                    }
                }
            }

            double p = hits == 0 ? 0 : (double)right / hits, r = duplicates == 0 ? 0 : (double)right / duplicates;
            figures.Add((p, r));
            Console.WriteLine(FormattableString.Invariant(
                $"{label,-8} hits {hits,5}, right {right,5}: precision {p:F4}, recall {r:F4} (embedded {stored.Count + queries.Count} texts in {elapsed.TotalSeconds:F1} s)"));
        }

        if (figures.Count < 2)
        {
            return 0;
        }

        // How far each text's vector moved: cosine between its two vectors.
        int texts = stored.Count + queries.Count, width = vectors[0].Length / texts;
        double sum = 0, min = 1;
        for (int t = 0; t < texts; t++)
        {
            double c = TensorPrimitives.Dot(vectors[0].AsSpan(t * width, width), vectors[1].AsSpan(t * width, width));
            sum += c;
            min = Math.Min(min, c);
        }

        Console.WriteLine(FormattableString.Invariant($"cosine between a text's two vectors: mean {sum / texts:F5}, min {min:F5}"));
        double dp = figures[1].Precision - figures[0].Precision, dr = figures[1].Recall - figures[0].Recall;
        bool ok = Math.Abs(dp) <= tolerance && Math.Abs(dr) <= tolerance;
        Console.WriteLine(FormattableString.Invariant(
            $"{labels[1]} vs Float32: precision {dp:+0.0000;-0.0000}, recall {dr:+0.0000;-0.0000} (tolerance ±{tolerance:F4}): {(ok ? "PASS" : "FAIL")}"));
        return ok ? 0 : 1;
    }

    // Vectors are L2-normalised by the embedder, so a dot product is the cosine.
    private static async Task<float[]> EmbedAsync(TextEmbedder embedder, List<string> texts)
    {
        EmbeddingResult[] results = await embedder.EmbedManyAsync(texts);
        var flat = new float[texts.Count * embedder.Dimension];
        for (int i = 0; i < results.Length; i++)
        {
            results[i].Vector.CopyTo(flat.AsSpan(i * embedder.Dimension));
        }

        return flat;
    }
}
