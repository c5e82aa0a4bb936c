using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace SemCache.Index;

/// <summary>
/// Many independent indexes ("partitions") keyed by a <see cref="PartitionKey"/>, all with the same options. A
/// partition below <see cref="VectorIndexOptions.FlatScanThreshold"/> vectors is an exact flat scan, which is faster
/// than a graph at that size and costs only its rows; the insert that brings it to the threshold rebuilds it into an
/// <see cref="HnswIndex"/> (the partition stays searchable meanwhile). Graph partitions do not go back to flat scans.
/// </summary>
/// <remarks>
/// <para>Every member may be called concurrently. Searches take no lock. <see cref="Save"/> blocks writers (not searches)
/// while it writes, so the snapshot is a consistent point in time.</para>
/// <para>A partition exists only while it holds vectors: the remove that takes out its last vector retires it (it no
/// longer counts in <see cref="PartitionCount"/> and its memory is freed), and the next add creates it afresh. So a
/// workload with a partition per conversation runs in memory bounded by its live vectors, not by every conversation
/// ever seen. Retiring and <see cref="RemovePartition"/> free a partition only once no call is reading it (a count of
/// calls in progress per partition, see <see cref="PartitionSlot"/>), and an add that races a retirement lands in a
/// live partition.</para>
/// </remarks>
public sealed partial class PartitionedIndex : IDisposable
{
    private readonly ConcurrentDictionary<PartitionKey, PartitionSlot> _partitions = new();
    private readonly ReaderWriterLockSlim _gate = new(LockRecursionPolicy.NoRecursion);
    private int _disposed;

    /// <summary>Creates an empty collection.</summary>
    /// <param name="options">Options of every partition; validated here.</param>
    public PartitionedIndex(VectorIndexOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
    }

    /// <summary>The options shared by all partitions.</summary>
    public VectorIndexOptions Options { get; }

    /// <summary>
    /// Number of partitions, that is, of keys holding at least one vector (a partition being created or retired by a
    /// concurrent call may or may not be counted).
    /// </summary>
    public int PartitionCount => _partitions.Count;

    /// <summary>Total number of vectors over all partitions.</summary>
    public long Count
    {
        get
        {
            long total = 0;
            foreach (KeyValuePair<PartitionKey, PartitionSlot> p in _partitions)
            {
                if (p.Value.TryEnter())
                {
                    total += p.Value.Index.Count;
                    Exit(p.Key, p.Value);
                }
            }

            return total;
        }
    }

    /// <summary>The keys of all partitions.</summary>
    public IEnumerable<PartitionKey> PartitionKeys => _partitions.Keys;

    /// <summary>Adds a vector to a partition (created on first use).</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="id">Caller-chosen id, unique within the partition.</param>
    /// <param name="vector">The vector; normalised to unit length if it is not.</param>
    /// <exception cref="ArgumentException">Wrong dimension, non-finite or zero vector, or a duplicate id.</exception>
    public void Add(PartitionKey partition, long id, ReadOnlySpan<float> vector)
    {
        if (!TryAdd(partition, id, vector))
        {
            ThrowHelper.DuplicateId(id);
        }
    }

    /// <summary>Adds a vector to a partition unless the id is already there.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="id">Caller-chosen id.</param>
    /// <param name="vector">The vector; normalised to unit length if it is not.</param>
    /// <returns><see langword="false"/> when the partition already holds <paramref name="id"/>.</returns>
    public bool TryAdd(PartitionKey partition, long id, ReadOnlySpan<float> vector)
    {
        ThrowIfDisposed();
        if (vector.Length != Options.Dimension)
        {
            ThrowHelper.DimensionMismatch(nameof(vector), Options.Dimension, vector.Length);
        }

        _gate.EnterReadLock();
        try
        {
            PartitionSlot slot = EnterOrCreate(partition);
            try
            {
                return slot.TryAdd(id, vector);
            }
            finally
            {
                Exit(partition, slot);
            }
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>Removes a vector from a partition.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="id">The id.</param>
    /// <returns><see langword="false"/> when the partition or the id does not exist.</returns>
    public bool Remove(PartitionKey partition, long id)
    {
        ThrowIfDisposed();
        _gate.EnterReadLock();
        try
        {
            if (!TryEnter(partition, out PartitionSlot? slot))
            {
                return false;
            }

            try
            {
                return slot.Remove(id);
            }
            finally
            {
                Exit(partition, slot); // the exit after the last vector's remove retires the partition
            }
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>
    /// Drops a whole partition. Searches already running on it finish on it (its memory is freed when the last one
    /// returns); calls that start afterwards find it absent, and an add that starts afterwards creates it afresh.
    /// </summary>
    /// <param name="partition">The partition.</param>
    /// <returns><see langword="false"/> when it did not exist.</returns>
    public bool RemovePartition(PartitionKey partition)
    {
        ThrowIfDisposed();
        _gate.EnterReadLock();
        try
        {
            return _partitions.TryRemove(partition, out PartitionSlot? slot) && slot.Retire();
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>Tells whether a partition holds <paramref name="id"/>.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="id">The id.</param>
    /// <returns><see langword="true"/> when present.</returns>
    public bool Contains(PartitionKey partition, long id)
    {
        if (!TryEnter(partition, out PartitionSlot? slot))
        {
            return false;
        }

        try
        {
            return slot.Index.Contains(id);
        }
        finally
        {
            Exit(partition, slot);
        }
    }

    /// <summary>Number of vectors in one partition (0 when it does not exist).</summary>
    /// <param name="partition">The partition.</param>
    /// <returns>The count.</returns>
    public int CountOf(PartitionKey partition)
    {
        if (!TryEnter(partition, out PartitionSlot? slot))
        {
            return 0;
        }

        int count = slot.Index.Count;
        Exit(partition, slot);
        return count;
    }

    /// <summary>Whether a partition is currently an HNSW graph (<see langword="false"/>: a flat scan, or absent).</summary>
    /// <param name="partition">The partition.</param>
    /// <returns><see langword="true"/> for a graph.</returns>
    public bool IsGraph(PartitionKey partition)
    {
        if (!TryEnter(partition, out PartitionSlot? slot))
        {
            return false;
        }

        bool graph = slot.Index.IsGraph;
        Exit(partition, slot);
        return graph;
    }

    /// <summary>Copies the stored vector of an id into <paramref name="destination"/>.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="id">The id.</param>
    /// <param name="destination">At least <see cref="VectorIndexOptions.Dimension"/> floats.</param>
    /// <returns><see langword="false"/> when absent.</returns>
    public bool TryGetVector(PartitionKey partition, long id, Span<float> destination)
    {
        if (!TryEnter(partition, out PartitionSlot? slot))
        {
            return false;
        }

        try
        {
            return slot.Index.TryGetVector(id, destination);
        }
        finally
        {
            Exit(partition, slot);
        }
    }

    /// <summary>Enumerates the ids of a partition's entries, without copying vectors (for reconciling with a store).</summary>
    /// <param name="partition">The partition.</param>
    /// <returns>The ids; empty when the partition does not exist. Holds the partition while enumerated, as <see cref="EnumerateVectors"/>.</returns>
    public IEnumerable<long> EnumerateIds(PartitionKey partition)
    {
        if (!TryEnter(partition, out PartitionSlot? slot))
        {
            yield break;
        }

        try
        {
            foreach (long id in slot.Index.EnumerateIds())
            {
                yield return id;
            }
        }
        finally
        {
            Exit(partition, slot);
        }
    }

    /// <summary>Enumerates the entries of a partition with copies of their vectors (for cross-checking a store).</summary>
    /// <param name="partition">The partition.</param>
    /// <returns>
    /// The entries; empty when the partition does not exist. The enumeration holds the partition from its first
    /// <c>MoveNext</c> until it ends or is disposed (<c>foreach</c> does both), so a partition removed meanwhile is
    /// freed only then.
    /// </returns>
    public IEnumerable<StoredVector> EnumerateVectors(PartitionKey partition)
    {
        if (!TryEnter(partition, out PartitionSlot? slot))
        {
            yield break;
        }

        try
        {
            foreach (StoredVector entry in slot.Index.EnumerateVectors())
            {
                yield return entry;
            }
        }
        finally
        {
            Exit(partition, slot);
        }
    }

    /// <summary>Finds the <paramref name="k"/> nearest vectors of a partition.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="query">The query vector (normalised if it is not unit length).</param>
    /// <param name="k">Number of neighbours wanted, at least 1.</param>
    /// <param name="destination">Room for at least <paramref name="k"/> results; filled most similar first.</param>
    /// <param name="efSearch">HNSW efSearch for graph partitions; 0 means <see cref="VectorIndexOptions.EfSearch"/>.</param>
    /// <returns>Number of results written (fewer than <paramref name="k"/> when the partition holds fewer; 0 when absent).</returns>
    public int Search(PartitionKey partition, ReadOnlySpan<float> query, int k, Span<SearchResult> destination, int efSearch = 0)
    {
        ThrowIfDisposed();
        if (efSearch < 0)
        {
            ThrowHelper.EfOutOfRange(efSearch);
        }

        int ef = efSearch == 0 ? Options.EfSearch : efSearch;
        HnswIndex.ValidateSearch(query, k, destination, ef, Options.Dimension);
        if (!TryEnter(partition, out PartitionSlot? slot))
        {
            return 0;
        }

        try
        {
            return slot.Index.Search(query, k, destination, ef);
        }
        finally
        {
            Exit(partition, slot);
        }
    }

    /// <summary>Finds the <paramref name="k"/> nearest vectors of a partition.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="query">The query vector.</param>
    /// <param name="k">Number of neighbours wanted, at least 1.</param>
    /// <returns>Up to <paramref name="k"/> results, most similar first.</returns>
    public SearchResult[] Search(PartitionKey partition, ReadOnlySpan<float> query, int k)
    {
        if (k < 1)
        {
            ThrowHelper.KOutOfRange(k);
        }

        var buffer = new SearchResult[Math.Max(1, Math.Min(k, CountOf(partition)))];
        int n = Search(partition, query, buffer.Length, buffer);
        return n == buffer.Length ? buffer : buffer[..n];
    }

    /// <summary>Bytes of memory held by the partitions' vectors, graphs and maps (an estimate from array sizes).</summary>
    /// <returns>The total.</returns>
    public long EstimateMemoryBytes()
    {
        long total = 0;
        foreach (KeyValuePair<PartitionKey, PartitionSlot> p in _partitions)
        {
            if (p.Value.TryEnter())
            {
                total += p.Value.Index.MemoryBytes + 64;
                Exit(p.Key, p.Value);
            }
        }

        return total;
    }

    /// <summary>
    /// <see cref="EstimateMemoryBytes"/> by layer (vectors, links, node state, maps, per-partition objects), for the
    /// memory benchmark; each partition's slot and dictionary node are counted in <see cref="IndexMemory.Partitions"/>.
    /// </summary>
    /// <returns>The sum over the partitions.</returns>
    public IndexMemory EstimateMemory()
    {
        IndexMemory total = default;
        foreach (KeyValuePair<PartitionKey, PartitionSlot> p in _partitions)
        {
            if (p.Value.TryEnter())
            {
                // PartitionSlot (40 bytes) and its ConcurrentDictionary node (56 bytes, key 16, value, next, hash).
                total += p.Value.Index.Memory + new IndexMemory(0, 0, 0, 0, 0, 0, 0, 96);
                Exit(p.Key, p.Value);
            }
        }

        return total;
    }

    private void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            ThrowHelper.Disposed(nameof(PartitionedIndex));
        }
    }

    /// <summary>
    /// Releases every partition (and their memory-mapped files, if any); a search still running on one finishes on it
    /// and the partition is freed when it returns.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (KeyValuePair<PartitionKey, PartitionSlot> p in _partitions)
        {
            p.Value.Retire();
        }

        _partitions.Clear();
        _gate.Dispose();
    }

    // ------------------------------------------------------------------ partition lifetime

    /// <summary>Enters the live partition of <paramref name="key"/>, if there is one.</summary>
    private bool TryEnter(PartitionKey key, [NotNullWhen(true)] out PartitionSlot? slot)
    {
        if (_partitions.TryGetValue(key, out slot) && slot.TryEnter())
        {
            return true;
        }

        slot = null;
        return false;
    }

    /// <summary>Enters the live partition of <paramref name="key"/>, creating it when there is none (or it was retired).</summary>
    private PartitionSlot EnterOrCreate(PartitionKey key)
    {
        while (true)
        {
            if (!_partitions.TryGetValue(key, out PartitionSlot? slot))
            {
                var created = new PartitionSlot(Options); // entered by us from the start
                slot = _partitions.GetOrAdd(key, created);
                if (ReferenceEquals(slot, created))
                {
                    return created;
                }

                created.Exit(); // another add created it first: ours, never listed, retires and frees its index
            }

            if (slot.TryEnter())
            {
                return slot;
            }

            // Retired but still listed (its retirer unlists it right after): unlist it ourselves, then make a new one.
            _partitions.TryRemove(new KeyValuePair<PartitionKey, PartitionSlot>(key, slot));
        }
    }

    /// <summary>Leaves a partition; unlists it when this exit retired it (it was left empty).</summary>
    private void Exit(PartitionKey key, PartitionSlot slot)
    {
        if (slot.Exit())
        {
            _partitions.TryRemove(new KeyValuePair<PartitionKey, PartitionSlot>(key, slot));
        }
    }
}
