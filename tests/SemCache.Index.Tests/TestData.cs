namespace SemCache.Index.Tests;

/// <summary>Deterministic clustered unit vectors, the shape of sentence embeddings (topics around centroids).</summary>
internal static class TestData
{
    /// <summary>
    /// Data points and queries drawn around the same centroids (queries from other centroids would be far from every
    /// point, which is not the cache's workload).
    /// </summary>
    public static (float[][] Data, float[][] Queries) DataAndQueries(int count, int queries, int dimension, int clusters, int seed)
    {
        float[][] all = Clustered(count + queries, dimension, clusters, seed);
        return (all[..count], all[count..]);
    }

    public static float[][] Clustered(int count, int dimension, int clusters, int seed, float spread = 1.0f)
    {
        var random = new Random(seed);
        var centroids = new float[clusters][];
        for (int c = 0; c < clusters; c++)
        {
            centroids[c] = Normalize(Gaussian(random, dimension, 1f));
        }

        var result = new float[count][];
        for (int i = 0; i < count; i++)
        {
            float[] centroid = centroids[random.Next(clusters)];
            float[] noise = Gaussian(random, dimension, spread / MathF.Sqrt(dimension));
            for (int d = 0; d < dimension; d++)
            {
                noise[d] += centroid[d];
            }

            result[i] = Normalize(noise);
        }

        return result;
    }

    public static float[] Gaussian(Random random, int dimension, float sigma)
    {
        var v = new float[dimension];
        for (int d = 0; d < dimension; d++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            v[d] = (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2)) * sigma;
        }

        return v;
    }

    public static float[] Normalize(float[] v)
    {
        double s = 0;
        foreach (float x in v)
        {
            s += x * x;
        }

        float inv = (float)(1 / Math.Sqrt(s));
        for (int i = 0; i < v.Length; i++)
        {
            v[i] *= inv;
        }

        return v;
    }

    public static float Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            s += a[i] * b[i];
        }

        return (float)s;
    }

    /// <summary>Exact top-k ids by brute force over the live entries.</summary>
    public static long[] BruteForce(IReadOnlyDictionary<long, float[]> live, float[] query, int k) =>
        [.. live.Select(p => (p.Key, Sim: Dot(p.Value, query))).OrderByDescending(p => p.Sim).ThenBy(p => p.Key).Take(k).Select(p => p.Key)];

    /// <summary>Mean recall@k of <paramref name="search"/> against brute force.</summary>
    public static double Recall(IReadOnlyDictionary<long, float[]> live, float[][] queries, int k, Func<float[], SearchResult[]> search)
    {
        double hits = 0;
        foreach (float[] q in queries)
        {
            var truth = new HashSet<long>(BruteForce(live, q, k));
            SearchResult[] found = search(q);
            hits += found.Count(r => truth.Contains(r.Id)) / (double)truth.Count;
        }

        return hits / queries.Length;
    }
}
