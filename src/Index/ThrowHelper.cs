using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace SemCache.Index;

/// <summary>
/// Throw sites kept out of the hot methods so that the JIT can inline the callers (a throw inside a method
/// blocks inlining and bloats the prologue).
/// </summary>
internal static class ThrowHelper
{
    [DoesNotReturn]
    public static void DimensionMismatch(string paramName, int expected, int actual) =>
        throw new ArgumentException(
            string.Create(CultureInfo.InvariantCulture, $"Vector has {actual} components; this index holds {expected}-dimensional vectors."),
            paramName);

    [DoesNotReturn]
    public static void NonFinite(string paramName, int index) =>
        throw new ArgumentException(
            string.Create(CultureInfo.InvariantCulture, $"Vector component {index} is NaN or infinite; only finite values can be indexed or searched."),
            paramName);

    [DoesNotReturn]
    public static void ZeroVector(string paramName) =>
        throw new ArgumentException("Vector has zero length; a cosine similarity is undefined for it.", paramName);

    [DoesNotReturn]
    public static void KOutOfRange(int k) =>
        throw new ArgumentOutOfRangeException(nameof(k), k, "k must be at least 1.");

    [DoesNotReturn]
    public static void EfOutOfRange(int efSearch) =>
        throw new ArgumentOutOfRangeException(nameof(efSearch), efSearch, "efSearch must be at least 1.");

    [DoesNotReturn]
    public static void DestinationTooSmall(string paramName, int needed, int actual) =>
        throw new ArgumentException(
            string.Create(CultureInfo.InvariantCulture, $"Destination has room for {actual} results; {needed} are needed."),
            paramName);

    [DoesNotReturn]
    public static void DuplicateId(long id) =>
        throw new ArgumentException(
            string.Create(CultureInfo.InvariantCulture, $"An entry with id {id} is already in the index; remove it first or use TryAdd."),
            nameof(id));

    [DoesNotReturn]
    public static void Disposed(string name) => throw new ObjectDisposedException(name);

    [DoesNotReturn]
    public static void CapacityExceeded() =>
        throw new InvalidOperationException("The index cannot hold more than 2^31 - 1 vectors.");

    [DoesNotReturn]
    public static void Corrupt(string message) => throw new InvalidDataException("Snapshot is corrupt: " + message);

    [DoesNotReturn]
    public static void Truncated(string message) => throw new InvalidDataException("Snapshot is truncated: " + message);
}
