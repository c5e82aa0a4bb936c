using System.Collections.Concurrent;
using SemCache.Cache.Requests;
using SemCache.Index;
using SemCache.Storage;

namespace SemCache.Cache.Indexing;

/// <summary>
/// The semantic layer's vectors: one <see cref="PartitionedIndex"/> per vector dimension, and each namespace's dimension.
/// A namespace's dimension is that of the vectors it holds: fixed by its first vector, free again once it holds none,
/// and after a restart derived from the stored entries (never from a side file that could be lost or damaged).
/// </summary>
/// <remarks>
/// <para>Per namespace the index keeps a count of vectors that are indexed or about to be (reserved by a write in
/// flight). A batch reserves all its vectors at once, under one lock, after checking them all, so a rejected batch
/// fixes no dimension and two concurrent first writes of different dimensions cannot both win.</para>
/// <para>Store and index agree by construction: a vector is added after its entry is stored, then the entry is
/// checked to be still live; a removal reported by the store in between would have found nothing to remove, so the
/// check removes it instead. Exactly one of the two removes it, and only a successful removal decrements the count.</para>
/// </remarks>
internal sealed class SemanticIndex : IDisposable
{
    private readonly ConcurrentDictionary<int, PartitionedIndex> _byDimension = new();
    // Read without the lock (lookups); changed only under it (writes, removals), so check-then-reserve is atomic.
    private readonly ConcurrentDictionary<ulong, NamespaceVectors> _namespaces = new();
    private readonly Lock _lock = new();
    private readonly VectorIndexOptions _template;

    public SemanticIndex(VectorIndexOptions template) => _template = template;

    /// <summary>Vectors indexed, over all dimensions.</summary>
    public long Count => _byDimension.Values.Sum(static i => i.Count);

    /// <summary>Partitions holding vectors, over all dimensions.</summary>
    public int PartitionCount => _byDimension.Values.Sum(static i => i.PartitionCount);

    /// <summary>Namespaces holding vectors.</summary>
    public int NamespaceCount => _namespaces.Count;

    public IEnumerable<KeyValuePair<int, PartitionedIndex>> Indexes => _byDimension;

    /// <summary>The dimension of the namespace's vectors, if it holds any.</summary>
    public bool TryGetDimension(ulong namespaceHash, out int dimension)
    {
        if (_namespaces.TryGetValue(namespaceHash, out NamespaceVectors? vectors))
        {
            dimension = vectors.Dimension;
            return true;
        }

        dimension = 0;
        return false;
    }

    public PartitionedIndex? IndexOf(int dimension) => _byDimension.TryGetValue(dimension, out PartitionedIndex? index) ? index : null;

    /// <summary>
    /// Checks every vector of a batch against its namespace's dimension and against the batch's other vectors of that
    /// namespace, then reserves them all; throws (reserving nothing) naming the first entry that conflicts.
    /// </summary>
    /// <param name="sets">The checked requests.</param>
    /// <param name="vectors">Each request's vector (empty: none).</param>
    public void Reserve(IReadOnlyList<ValidSet> sets, ReadOnlyMemory<float>[] vectors)
    {
        lock (_lock)
        {
            var batch = new Dictionary<ulong, int>();
            for (int i = 0; i < sets.Count; i++)
            {
                int length = vectors[i].Length;
                if (length == 0)
                {
                    continue;
                }

                ValidSet set = sets[i];
                int expected = _namespaces.TryGetValue(set.NamespaceHash, out NamespaceVectors? held) ? held.Dimension
                    : batch.TryGetValue(set.NamespaceHash, out int first) ? first
                    : length;
                if (length != expected)
                {
                    throw DimensionMismatch(set.Prefix + "vector", set.Namespace, expected, length, fromModel: set.Vector.IsEmpty);
                }

                batch.TryAdd(set.NamespaceHash, length);
            }

            for (int i = 0; i < sets.Count; i++)
            {
                if (vectors[i].Length > 0)
                {
                    Increment(sets[i].NamespaceHash, vectors[i].Length);
                }
            }
        }
    }

    /// <summary>The error for a vector whose dimension is not its namespace's (<paramref name="fromModel"/>: the model made it).</summary>
    public static CacheRequestException DimensionMismatch(string field, string ns, int held, int given, bool fromModel)
    {
        string source = fromModel ? $"the model's vectors have {given} dimensions; give a vector of {held}" : $"{given} dimensions";
        return new CacheRequestException(CacheErrorKind.FailedPrecondition, field, $"namespace '{ns}' holds {held}-dimensional vectors; {source}.");
    }

    /// <summary>Gives back a reservation whose write failed.</summary>
    public void Release(ulong namespaceHash)
    {
        lock (_lock)
        {
            Decrement(namespaceHash);
        }
    }

    /// <summary>
    /// Turns a reservation into an indexed vector, unless the entry has left the store meanwhile.
    /// </summary>
    /// <returns>False when nothing was indexed: the entry was gone, or the index refused the vector (<paramref name="failure"/>).</returns>
    public bool TryAddReserved(ulong namespaceHash, ulong partition, ulong id, ReadOnlySpan<float> vector, Func<ulong, bool> isLive, out Exception? failure)
    {
        failure = null;
        var key = new PartitionKey(partition);
        PartitionedIndex index = IndexFor(vector.Length);
        bool added;
        try
        {
            added = index.TryAdd(key, (long)id, vector);
        }
        catch (Exception e) when (e is ArgumentException or ObjectDisposedException)
        {
            failure = e;
            added = false;
        }

        if (!added)
        {
            Release(namespaceHash);
            return false;
        }

        if (!isLive(id))
        {
            if (index.Remove(key, (long)id))
            {
                Release(namespaceHash);
            }

            return false;
        }

        return true;
    }

    /// <summary>Removes an entry that left the store, if it is indexed.</summary>
    public void Remove(in RemovedEntry entry)
    {
        // The store says which dimension the entry's vector had (0: none, nothing to do).
        if (entry.VectorDimension > 0 && _byDimension.TryGetValue(entry.VectorDimension, out PartitionedIndex? index) && index.Remove(new PartitionKey(entry.Partition), (long)entry.Id))
        {
            Release(entry.NamespaceHash);
        }
    }

    /// <summary>Sets the namespace counts from the store's live entries (at recovery, before any write).</summary>
    public void ResetNamespaces(IEnumerable<KeyValuePair<ulong, NamespaceVectors>> namespaces)
    {
        lock (_lock)
        {
            _namespaces.Clear();
            foreach ((ulong hash, NamespaceVectors vectors) in namespaces)
            {
                _namespaces[hash] = vectors;
            }
        }
    }

    /// <summary>Replaces everything with loaded snapshots (at recovery, before any write).</summary>
    public void Replace(IEnumerable<KeyValuePair<int, PartitionedIndex>> indexes)
    {
        Clear();
        foreach ((int dimension, PartitionedIndex index) in indexes)
        {
            _byDimension[dimension] = index;
        }
    }

    public void Clear()
    {
        foreach (PartitionedIndex index in _byDimension.Values)
        {
            index.Dispose();
        }

        _byDimension.Clear();
    }

    public PartitionedIndex IndexFor(int dimension) =>
        _byDimension.GetOrAdd(dimension, d => new PartitionedIndex(_template with { Dimension = d }));

    public void Dispose() => Clear();

    private void Increment(ulong namespaceHash, int dimension)
    {
        if (_namespaces.TryGetValue(namespaceHash, out NamespaceVectors? vectors))
        {
            vectors.Count++;
        }
        else
        {
            _namespaces[namespaceHash] = new NamespaceVectors(dimension) { Count = 1 };
        }
    }

    private void Decrement(ulong namespaceHash)
    {
        if (_namespaces.TryGetValue(namespaceHash, out NamespaceVectors? vectors) && --vectors.Count <= 0)
        {
            _namespaces.TryRemove(namespaceHash, out _);
        }
    }
}

/// <summary>A namespace's vector dimension and how many vectors it holds or is about to.</summary>
internal sealed class NamespaceVectors(int dimension)
{
    public int Dimension { get; } = dimension;

    public long Count { get; set; }
}
