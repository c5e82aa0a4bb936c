namespace SemCache.Index;

/// <summary>One entry of an index as stored: its id and its (unit-length) vector, for cross-checking with a store.</summary>
/// <param name="Id">The caller's id.</param>
/// <param name="Vector">A copy of the stored vector (as normalised on insert).</param>
public readonly record struct StoredVector(long Id, ReadOnlyMemory<float> Vector);
