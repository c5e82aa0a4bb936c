namespace SemCache.Index;

/// <summary>What a write did to the index behind a partition.</summary>
internal enum WriteOutcome
{
    /// <summary>The vector was added or removed.</summary>
    Applied,

    /// <summary>Nothing changed: the id was already there (add) or was not there (remove).</summary>
    Unchanged,

    /// <summary>
    /// This index has handed its vectors to <see cref="IVectorPartitionIndex.Successor"/> (a flat scan rebuilt as a
    /// graph); nothing changed here, and the write must be made there.
    /// </summary>
    Superseded,
}

/// <summary>
/// The index behind one partition of a <see cref="PartitionedIndex"/>: a <see cref="FlatIndex"/> while the partition
/// is small, an <see cref="HnswIndex"/> once it reaches <see cref="VectorIndexOptions.FlatScanThreshold"/>.
/// </summary>
/// <remarks>
/// Every member may be called concurrently, except <see cref="IDisposable.Dispose"/>, which the caller must run only
/// once no other call is in progress or can start (<see cref="PartitionSlot"/> guarantees that with its user count).
/// </remarks>
internal interface IVectorPartitionIndex : IDisposable
{
    /// <summary>Number of live vectors.</summary>
    int Count { get; }

    /// <summary>Bytes held on the managed heap (vectors, lists, maps), an estimate from array sizes.</summary>
    long MemoryBytes { get; }

    /// <summary><see cref="MemoryBytes"/> by layer.</summary>
    IndexMemory Memory { get; }

    /// <summary><see langword="true"/> for an HNSW graph, <see langword="false"/> for a flat scan.</summary>
    bool IsGraph { get; }

    /// <summary>The index that took this one's vectors, once a write has returned <see cref="WriteOutcome.Superseded"/>
    /// or has built it; <see langword="null"/> before (and always for a graph).</summary>
    IVectorPartitionIndex? Successor { get; }

    /// <summary>Adds <paramref name="vector"/> (validated, normalised if needed) under <paramref name="id"/>.</summary>
    WriteOutcome TryAdd(long id, ReadOnlySpan<float> vector);

    /// <summary>Removes <paramref name="id"/>.</summary>
    WriteOutcome Remove(long id);

    bool Contains(long id);

    bool TryGetVector(long id, Span<float> destination);

    /// <summary>The entries' ids (no vector copies).</summary>
    IEnumerable<long> EnumerateIds();

    /// <summary>Entries with copies of their vectors; for a graph this reads the index lazily while enumerated.</summary>
    IEnumerable<StoredVector> EnumerateVectors();

    /// <summary>Top-<paramref name="k"/> search; the caller has validated the arguments (query not yet normalised).</summary>
    int Search(ReadOnlySpan<float> query, int k, Span<SearchResult> destination, int efSearch);

    /// <summary>Writes this index's arrays to a snapshot body (not its kind byte: the caller writes that).</summary>
    void WriteTo(SnapshotWriter writer);
}
