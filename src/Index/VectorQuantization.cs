using System.Diagnostics.CodeAnalysis;

namespace SemCache.Index;

/// <summary>How an HNSW graph stores the vectors it traverses.</summary>
public enum VectorQuantization
{
    /// <summary>32-bit floats: exact similarities, 4 bytes per component.</summary>
    None = 0,

    /// <summary>
    /// Scalar int8 with one scale per vector: the graph is traversed on 1 byte per component and the final
    /// candidates (all <c>efSearch</c> of them) are rescored on the exact float vectors. The float copies are kept
    /// off the managed heap in a memory-mapped file when <see cref="VectorIndexOptions.RescoreStorageDirectory"/> is set,
    /// so only the pages of the rescored rows become resident.
    /// </summary>
    [SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "Int8 is the name of the quantization scheme.")]
    Int8 = 1,
}
