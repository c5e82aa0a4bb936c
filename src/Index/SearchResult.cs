using System.Globalization;
using System.Runtime.InteropServices;

namespace SemCache.Index;

/// <summary>One neighbour found by a search: the caller's id and its cosine similarity to the query.</summary>
/// <param name="Id">The caller-chosen 64-bit id given when the vector was added.</param>
/// <param name="Similarity">Cosine similarity (the dot product of unit vectors), in [-1, 1]; larger is closer.</param>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct SearchResult(long Id, float Similarity)
{
    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Id}: {Similarity:F4}");
}
