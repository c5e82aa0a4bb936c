using Cloud.Unum.USearch;

namespace SemCache.Index.Bench;

/// <summary>One searchable index under test; ids are the base rows.</summary>
internal interface IEngine : IDisposable
{
    string Name { get; }

    void SetEf(int ef);

    /// <summary>Writes up to k row ids into <paramref name="ids"/>; thread-safe.</summary>
    int Search(float[] query, int k, long[] ids);
}

internal sealed class OurHnswEngine : IEngine
{
    public static readonly PartitionKey Key = new(7);
    private int _ef = 64;

    public OurHnswEngine(string name, PartitionedIndex index)
    {
        Name = name;
        Index = index;
    }

    public string Name { get; }

    /// <summary>A collection with one graph partition (threshold 0), so that snapshots can be timed too.</summary>
    public PartitionedIndex Index { get; }

    public void SetEf(int ef) => _ef = ef;

    [ThreadStatic]
    private static SearchResult[]? t_buffer;

    public int Search(float[] query, int k, long[] ids)
    {
        SearchResult[] buffer = t_buffer ??= new SearchResult[256];
        int n = Index.Search(Key, query, k, buffer, _ef);
        for (int i = 0; i < n; i++)
        {
            ids[i] = buffer[i].Id;
        }

        return n;
    }

    public void Dispose() => Index.Dispose();
}

internal sealed class FlatEngine : IEngine
{
    private static readonly PartitionKey Key = new(1);

    public FlatEngine(PartitionedIndex index) => Index = index;

    public string Name => "flat scan (exact)";

    public PartitionedIndex Index { get; }

    public void SetEf(int ef)
    {
    }

    [ThreadStatic]
    private static SearchResult[]? t_buffer;

    public int Search(float[] query, int k, long[] ids)
    {
        SearchResult[] buffer = t_buffer ??= new SearchResult[256];
        int n = Index.Search(Key, query, k, buffer);
        for (int i = 0; i < n; i++)
        {
            ids[i] = buffer[i].Id;
        }

        return n;
    }

    public static FlatEngine Build(VectorSet data)
    {
        var index = new PartitionedIndex(new VectorIndexOptions { Dimension = data.Dimension, FlatScanThreshold = int.MaxValue });
        for (int i = 0; i < data.Count; i++)
        {
            index.Add(Key, i, data.Row(i));
        }

        return new FlatEngine(index);
    }

    public void Dispose() => Index.Dispose();
}

internal sealed class USearchEngine : IEngine
{
    public USearchEngine(string name, USearchIndex index)
    {
        Name = name;
        Index = index;
    }

    public string Name { get; }

    public USearchIndex Index { get; }

    public void SetEf(int ef) => USearchNative.SetExpansionSearch(Index, ef);

    public int Search(float[] query, int k, long[] ids)
    {
        int n = Index.Search(query, k, out ulong[] keys, out float[] _);
        for (int i = 0; i < n; i++)
        {
            ids[i] = (long)keys[i];
        }

        return n;
    }

    public void Dispose() => Index.Dispose();
}
