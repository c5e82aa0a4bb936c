using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;

namespace SemCache.Storage;

/// <summary>Token usage of the model call that produced a cached response, kept for savings accounting.</summary>
/// <param name="Model">Model that produced the response (may be empty).</param>
/// <param name="InputTokens">Prompt tokens the call consumed.</param>
/// <param name="OutputTokens">Completion tokens the call produced.</param>
public readonly record struct TokenUsage(string Model, int InputTokens, int OutputTokens);

/// <summary>
/// A cached prompt/response pair as the cache engine sees it. On <see cref="EntryStore.SetAsync"/> the store assigns
/// <see cref="Id"/>, <see cref="CreatedUnixMs"/> and <see cref="ExpiresUnixMs"/> (the values passed in are ignored);
/// reads return them filled in.
/// </summary>
public sealed class CacheEntry
{
    /// <summary>Store-assigned identifier, unique for the lifetime of the data directory (never reused).</summary>
    public ulong Id { get; init; }

    /// <summary>Tenant namespace of the entry.</summary>
    public string Namespace { get; init; } = "";

    /// <summary>Attributes the entry was stored with, sorted by key (ordinal). The store keeps the order it is given.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Attributes { get; init; } = [];

    /// <summary>Fingerprint of the conversation context the prompt was asked in (typically 16 bytes; at most 255).</summary>
    public ReadOnlyMemory<byte> ContextFingerprint { get; init; }

    /// <summary>The prompt as the engine stores it: in its normal form (NFC, trimmed, whitespace runs collapsed), the exact key's text.</summary>
    public string Prompt { get; init; } = "";

    /// <summary>The cached response.</summary>
    public string Response { get; init; } = "";

    /// <summary>Creation time, Unix milliseconds (assigned by the store).</summary>
    public long CreatedUnixMs { get; init; }

    /// <summary>Expiry time, Unix milliseconds (assigned by the store); the entry is never returned at or after it.</summary>
    public long ExpiresUnixMs { get; init; }

    /// <summary>Model and token counts of the call that produced <see cref="Response"/>.</summary>
    public TokenUsage Usage { get; init; } = new("", 0, 0);

    /// <summary>The prompt's embedding (may be empty). Kept so the index can be rebuilt without re-embedding.</summary>
    public ReadOnlyMemory<float> Vector { get; init; }
}

/// <summary>
/// The exact-match key of an entry: the engine's partition hash (namespace, attributes, context) and the normalised prompt
/// bytes. Two Sets with equal exact keys replace each other; a lookup by exact key needs no embedding.
/// </summary>
/// <param name="Partition">Partition hash computed by the engine; also what <see cref="EntryStore.DeletePartitionAsync"/> matches.</param>
/// <param name="Text">Normalised prompt bytes (at most 64 KiB).</param>
public readonly record struct ExactKey(ulong Partition, ReadOnlyMemory<byte> Text)
{
    /// <summary>Largest accepted <see cref="Text"/>.</summary>
    public const int MaxTextBytes = 64 << 10;

    /// <summary>Builds an exact key from a normalised prompt string (UTF-8 encoded).</summary>
    /// <param name="partition">Partition hash computed by the engine.</param>
    /// <param name="normalisedPrompt">The normalised prompt.</param>
    /// <returns>The key.</returns>
    public static ExactKey FromString(ulong partition, string normalisedPrompt)
    {
        ArgumentNullException.ThrowIfNull(normalisedPrompt);
        return new ExactKey(partition, Encoding.UTF8.GetBytes(normalisedPrompt));
    }

    /// <summary>128-bit hash of partition and text: the key of the in-memory exact-key map (the record keeps the full key to rule out collisions).</summary>
    internal UInt128 Hash()
    {
        var hasher = new XxHash128((long)Partition);
        hasher.Append(Text.Span);
        return hasher.GetCurrentHashAsUInt128();
    }

    internal bool Matches(ulong partition, ReadOnlySpan<byte> text) => partition == Partition && text.SequenceEqual(Text.Span);
}

/// <summary>Outcome of a Set.</summary>
/// <param name="Id">Identifier assigned to the new entry.</param>
/// <param name="CreatedUnixMs">Creation time assigned.</param>
/// <param name="ExpiresUnixMs">Expiry time assigned (after clamping the requested TTL to the maximum).</param>
/// <param name="ReplacedId">Identifier of the entry with the same exact key that this Set replaced, or null.</param>
public readonly record struct SetResult(ulong Id, long CreatedUnixMs, long ExpiresUnixMs, ulong? ReplacedId)
{
    /// <summary>True when the Set replaced an entry with the same exact key.</summary>
    public bool Replaced => ReplacedId.HasValue;
}

/// <summary>Why an entry left the store.</summary>
public enum RemovalReason
{
    /// <summary>Deleted by <see cref="EntryStore.DeleteAsync"/>, <see cref="EntryStore.DeletePartitionAsync"/> or <see cref="EntryStore.DeleteNamespaceAsync"/>.</summary>
    Deleted = 0,

    /// <summary>Replaced by a Set with the same exact key.</summary>
    Replaced = 1,

    /// <summary>Its time to live ran out (removed by the sweep).</summary>
    Expired = 2,

    /// <summary>Evicted to stay within the capacity limits.</summary>
    Evicted = 3,
}

/// <summary>An entry that left the store, as reported to <see cref="IEntryStoreObserver"/>.</summary>
/// <param name="Id">Its identifier.</param>
/// <param name="Partition">Its exact key's partition hash.</param>
/// <param name="Reason">Why it left.</param>
/// <param name="NamespaceHash">Hash of its namespace (<see cref="EntryStore.NamespaceHashOf"/>), so per-namespace counters can follow removals.</param>
/// <param name="VectorDimension">Length of its vector (0 when it had none), so per-namespace vector counts can follow removals.</param>
[StructLayout(LayoutKind.Auto)]
public readonly record struct RemovedEntry(ulong Id, ulong Partition, RemovalReason Reason, ulong NamespaceHash = 0, int VectorDimension = 0);

/// <summary>A live entry as enumerated for rebuilding the vector index.</summary>
/// <param name="Id">Identifier.</param>
/// <param name="Partition">Partition hash.</param>
/// <param name="Vector">The stored vector (may be empty).</param>
public readonly record struct LiveEntry(ulong Id, ulong Partition, ReadOnlyMemory<float> Vector);

/// <summary>
/// Receives the store's removals so the engine can keep the vector index consistent with it. Called after the removal is
/// applied, outside the store's write lock, on the thread that caused it (a Set, a Delete, the sweep); implementations must
/// be thread-safe and quick. Identifiers are never reused, so a late notification can never remove a newer entry.
/// </summary>
public interface IEntryStoreObserver
{
    /// <summary>Entries have left the store.</summary>
    /// <param name="removed">The removed entries.</param>
    void OnEntriesRemoved(ReadOnlySpan<RemovedEntry> removed);

    /// <summary>
    /// A checkpoint has captured the store's state; <paramref name="sequence"/> is the number <see cref="EntryStore.CheckpointAsync"/>
    /// will return and recovery will report. Called while writes are paused (so the engine can note exactly which
    /// changes the checkpoint holds); it must not call back into the store. Not called for the checkpoints
    /// <see cref="EntryStore.OpenAsync"/> takes itself (initial, post-recovery): an index restored as described on
    /// <see cref="RecoveryReport"/> matches <see cref="RecoveryReport.CurrentCheckpointSequence"/>.
    /// </summary>
    /// <param name="sequence">The checkpoint sequence number.</param>
    void OnCheckpointCaptured(long sequence);

    /// <summary>
    /// A write-ahead-log commit has completed: <paramref name="elapsed"/> from its issue until it was durable. Called
    /// on the commit's completion path; it must be quick and must not call back into the store.
    /// </summary>
    /// <param name="elapsed">How long the commit took.</param>
    void OnCommitCompleted(TimeSpan elapsed)
    {
    }
}
