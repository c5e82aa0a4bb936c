namespace SemCache.Index;

/// <summary>
/// Bytes an index holds, by what they are for: an estimate from the sizes of the arrays it allocated (allocated, not
/// only used: a chunk of <see cref="HnswIndex.ChunkSize"/> slots counts whole from its first vector).
/// </summary>
/// <param name="Vectors">Float rows kept on the managed heap (0 for rows in memory-mapped files).</param>
/// <param name="MappedVectors">Float rows in memory-mapped rescoring files (resident only as far as the OS keeps their pages).</param>
/// <param name="QuantizedCodes">Int8 codes and their per-vector scales.</param>
/// <param name="Level0Links">Level-0 neighbour lists (<c>2·M + 1</c> ints per slot).</param>
/// <param name="UpperLinks">Neighbour lists of the levels above 0 (one array per node that has them).</param>
/// <param name="NodeState">Per-slot ids, levels, states, lock words, generations and upper-list references.</param>
/// <param name="IdMap">The id → slot maps (a graph's dictionary; a flat scan's id array).</param>
/// <param name="Partitions">Objects per partition (slot, dictionary node, index object, chunk directory).</param>
public readonly record struct IndexMemory(long Vectors, long MappedVectors, long QuantizedCodes, long Level0Links, long UpperLinks, long NodeState, long IdMap, long Partitions)
{
    /// <summary>Bytes on the managed heap (everything but <see cref="MappedVectors"/>).</summary>
    public long HeapTotal => Vectors + QuantizedCodes + Level0Links + UpperLinks + NodeState + IdMap + Partitions;

    /// <summary>Sum of two breakdowns.</summary>
    public static IndexMemory operator +(IndexMemory a, IndexMemory b) => new(
        a.Vectors + b.Vectors,
        a.MappedVectors + b.MappedVectors,
        a.QuantizedCodes + b.QuantizedCodes,
        a.Level0Links + b.Level0Links,
        a.UpperLinks + b.UpperLinks,
        a.NodeState + b.NodeState,
        a.IdMap + b.IdMap,
        a.Partitions + b.Partitions);

    /// <summary>Sum of two breakdowns.</summary>
    public static IndexMemory Add(IndexMemory a, IndexMemory b) => a + b;
}
