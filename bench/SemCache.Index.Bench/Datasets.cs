using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using SemCache.Embedding;

namespace SemCache.Index.Bench;

/// <summary>A set of unit vectors as one flat array (row-major).</summary>
internal sealed class VectorSet
{
    public VectorSet(float[] data, int count, int dimension)
    {
        Data = data;
        Count = count;
        Dimension = dimension;
    }

    public float[] Data { get; }

    public int Count { get; }

    public int Dimension { get; }

    public ReadOnlySpan<float> Row(int i) => Data.AsSpan(i * Dimension, Dimension);

    public float[] RowArray(int i) => Row(i).ToArray();

    /// <summary>Splits off the last <paramref name="queries"/> rows after a seeded shuffle.</summary>
    public (VectorSet Base, VectorSet Queries) Split(int queries, int seed)
    {
        int[] order = [.. Enumerable.Range(0, Count)];
        new Random(seed).Shuffle(order);
        int baseCount = Count - queries;
        var b = new float[baseCount * Dimension];
        var q = new float[queries * Dimension];
        for (int i = 0; i < Count; i++)
        {
            Span<float> dst = i < baseCount ? b.AsSpan(i * Dimension, Dimension) : q.AsSpan((i - baseCount) * Dimension, Dimension);
            Row(order[i]).CopyTo(dst);
        }

        return (new VectorSet(b, baseCount, Dimension), new VectorSet(q, queries, Dimension));
    }

    public VectorSet Take(int count) => new(Data[..(count * Dimension)], count, Dimension);
}

internal static class Datasets
{
    private const ulong Magic = 0x3130_4345_5643_5353UL; // "SSCVEC01"

    public static string DataDirectory
    {
        get
        {
            // bench/SemCache.Index.Bench/data, found from the working directory or the binary's location.
            foreach (string start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            {
                for (DirectoryInfo? d = new(start); d is not null; d = d.Parent)
                {
                    string candidate = Path.Combine(d.FullName, "bench", "SemCache.Index.Bench");
                    if (Directory.Exists(candidate))
                    {
                        string data = Path.Combine(candidate, "data");
                        Directory.CreateDirectory(data);
                        return data;
                    }
                }
            }

            throw new DirectoryNotFoundException("Run from the repository (bench/SemCache.Index.Bench not found).");
        }
    }

    public static string QqpVectorsPath => QqpVectorsPathFor(0);

    /// <summary>The cache file of the first <paramref name="questions"/> distinct questions (0: all of them).</summary>
    public static string QqpVectorsPathFor(int questions) =>
        Path.Combine(DataDirectory, questions > 0 ? $"qqp-questions-{questions}.vec" : "qqp-questions.vec");

    /// <summary>The distinct questions of qqp-dev.tsv (label, q1, q2; header line skipped), in first-seen order.</summary>
    public static List<string> DistinctQqpQuestions(string tsvPath)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var questions = new List<string>();
        foreach (string line in File.ReadLines(tsvPath))
        {
            string[] parts = line.Split('\t');
            if (parts.Length < 3 || parts[0] == "label")
            {
                continue;
            }

            foreach (string q in parts.AsSpan(1, 2))
            {
                string t = q.Trim();
                if (t.Length > 0 && seen.Add(t))
                {
                    questions.Add(t);
                }
            }
        }

        return questions;
    }

    /// <summary>
    /// Embeds the QQP questions once with the SemCache embedder and caches them under data/. With
    /// <paramref name="limit"/> above 0 only the first that many distinct questions (a shorter run; its own cache file).
    /// </summary>
    public static async Task<VectorSet> LoadOrEmbedQqpAsync(string tsvPath, int limit = 0)
    {
        string path = QqpVectorsPathFor(limit);
        if (File.Exists(path))
        {
            return Read(path);
        }

        List<string> questions = DistinctQqpQuestions(tsvPath);
        if (limit > 0 && limit < questions.Count)
        {
            questions = questions.GetRange(0, limit);
        }

        Console.WriteLine($"Embedding {questions.Count} distinct QQP questions (once; cached in {path})...");
        using TextEmbedder embedder = TextEmbedder.Create(new EmbeddingOptions());
        int dim = embedder.Dimension;
        var data = new float[questions.Count * dim];
        var sw = Stopwatch.StartNew();
        const int Chunk = 256;
        for (int start = 0; start < questions.Count; start += Chunk)
        {
            List<string> chunk = questions.GetRange(start, Math.Min(Chunk, questions.Count - start));
            EmbeddingResult[] results = await embedder.EmbedManyAsync(chunk);
            for (int i = 0; i < results.Length; i++)
            {
                results[i].Vector.AsSpan().CopyTo(data.AsSpan((start + i) * dim, dim));
            }

            if ((start / Chunk) % 20 == 0)
            {
                Console.WriteLine($"  {start + chunk.Count}/{questions.Count} in {sw.Elapsed.TotalSeconds:F0} s");
            }
        }

        Console.WriteLine($"Embedded {questions.Count} questions in {sw.Elapsed.TotalSeconds:F1} s ({embedder.ModelName}, {dim}-d).");
        Write(path, data, questions.Count, dim, questions);
        return new VectorSet(data, questions.Count, dim);
    }

    /// <summary>File: magic, count, dimension, float32 rows, then the texts (length-prefixed UTF-8) in row order.</summary>
    public static void Write(string path, float[] data, int count, int dim, IReadOnlyList<string> texts)
    {
        string temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create))
        using (var writer = new BinaryWriter(stream, Encoding.UTF8))
        {
            writer.Write(Magic);
            writer.Write(count);
            writer.Write(dim);
            writer.Write(MemoryMarshal.AsBytes(data.AsSpan(0, count * dim)));
            foreach (string t in texts)
            {
                writer.Write(t);
            }
        }

        File.Move(temp, path, overwrite: true);
    }

    public static VectorSet Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read);
        using var reader = new BinaryReader(stream);
        if (reader.ReadUInt64() != Magic)
        {
            throw new InvalidDataException($"{path} is not a vector file.");
        }

        int count = reader.ReadInt32();
        int dim = reader.ReadInt32();
        var data = new float[count * dim];
        stream.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
        return new VectorSet(data, count, dim);
    }

    /// <summary>Clustered synthetic unit vectors: Gaussian noise around random centroids, normalised.</summary>
    public static VectorSet Synthetic(int count, int dim, int clusters, int seed, float spread = 1.0f)
    {
        var centroids = new float[clusters * dim];
        var random = new Random(seed);
        for (int i = 0; i < centroids.Length; i++)
        {
            centroids[i] = Gaussian(random);
        }

        for (int c = 0; c < clusters; c++)
        {
            Normalize(centroids.AsSpan(c * dim, dim));
        }

        var data = new float[(long)count * dim <= int.MaxValue ? count * dim : throw new ArgumentOutOfRangeException(nameof(count))];
        float sigma = spread / MathF.Sqrt(dim);
        Parallel.For(0, Environment.ProcessorCount, part =>
        {
            var r = new Random(seed * 1000 + part + 1);
            for (int i = part; i < count; i += Environment.ProcessorCount)
            {
                int c = r.Next(clusters);
                Span<float> row = data.AsSpan(i * dim, dim);
                for (int d = 0; d < dim; d++)
                {
                    row[d] = centroids[(c * dim) + d] + (Gaussian(r) * sigma);
                }

                Normalize(row);
            }
        });
        return new VectorSet(data, count, dim);
    }

    private static float Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }

    private static void Normalize(Span<float> v)
    {
        float norm = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(v));
        System.Numerics.Tensors.TensorPrimitives.Divide(v, norm, v);
    }

    /// <summary>Exact top-k ids (row numbers) of every query by brute force, on all cores.</summary>
    public static int[][] GroundTruth(VectorSet data, VectorSet queries, int k)
    {
        var truth = new int[queries.Count][];
        Parallel.For(0, queries.Count, q =>
        {
            ReadOnlySpan<float> query = queries.Row(q);
            var best = new PriorityQueue<int, float>();
            for (int i = 0; i < data.Count; i++)
            {
                float sim = VectorMath.Dot(query, data.Row(i));
                if (best.Count < k)
                {
                    best.Enqueue(i, sim);
                }
                else if (best.TryPeek(out _, out float worst) && sim > worst)
                {
                    best.DequeueEnqueue(i, sim);
                }
            }

            truth[q] = [.. best.UnorderedItems.Select(x => x.Element)];
        });
        return truth;
    }
}
