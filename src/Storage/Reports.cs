namespace SemCache.Storage;

/// <summary>A completed checkpoint.</summary>
/// <param name="Sequence">Monotonic checkpoint number; write it into the index snapshot so recovery can tell whether the two match.</param>
/// <param name="EntryCount">Live entries the checkpoint holds.</param>
/// <param name="Duration">How long the checkpoint took.</param>
public readonly record struct CheckpointInfo(long Sequence, long EntryCount, TimeSpan Duration);

/// <summary>What <see cref="EntryStore.OpenAsync"/> found and restored.</summary>
/// <remarks>
/// Restoring the vector index: if the index snapshot carries <see cref="CheckpointSequence"/>, load it, remove
/// <see cref="Removed"/> and add <see cref="AddedIds"/> (vectors from <see cref="EntryStore.EnumerateLiveEntries"/> or
/// <see cref="EntryStore.GetByIdAsync(ulong, bool, CancellationToken)"/>); otherwise rebuild it from <see cref="EntryStore.EnumerateLiveEntries"/>. The
/// index then matches <see cref="CurrentCheckpointSequence"/> (no write can happen before OpenAsync returns), which is
/// the sequence to write into the next index snapshot if one is saved right away.
/// </remarks>
public sealed class RecoveryReport
{
    /// <summary>True when the directory held no store and a new one was created.</summary>
    public bool CreatedNew { get; init; }

    /// <summary>Sequence of the checkpoint recovery started from (0 when none).</summary>
    public long CheckpointSequence { get; init; }

    /// <summary>Write-ahead-log operations (Sets and Deletes) replayed on top of the checkpoint.</summary>
    public long ReplayedOperations { get; init; }

    /// <summary>
    /// Identifiers added by the replayed operations and still live: with <see cref="Removed"/>, what an index snapshot
    /// taken at <see cref="CheckpointSequence"/> must apply to match the store.
    /// </summary>
    public IReadOnlyList<ulong> AddedIds { get; init; } = [];

    /// <summary>
    /// Entries removed since <see cref="CheckpointSequence"/>, with their partitions: deleted, replaced or evicted by the
    /// replayed operations, expired while the store was down, or evicted at start-up. They may be in an index snapshot
    /// taken at that checkpoint.
    /// </summary>
    public IReadOnlyList<RemovedEntry> Removed { get; init; } = [];

    /// <summary>Sequence of the checkpoint the engine's index snapshot must carry to be used as is (after applying the changes above).</summary>
    public long CurrentCheckpointSequence { get; init; }

    /// <summary>Live entries after recovery.</summary>
    public long EntryCount { get; init; }

    /// <summary>Entries dropped at start-up because they had expired.</summary>
    public long ExpiredOnRecovery { get; init; }

    /// <summary>Damage found and what it cost, one line each (empty when recovery was clean).</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];

    /// <summary>
    /// Write-ahead-log records that were damaged and skipped while the records after them were replayed; each is named in
    /// <see cref="Problems"/> with its address, size and the sequence numbers it held.
    /// </summary>
    public long SkippedRecords { get; init; }

    /// <summary>
    /// The write-ahead log's incomplete last bytes, when a crash tore the final write (normal after a crash: those
    /// operations were never committed, so in Strict mode none was acknowledged, and in Periodic mode they are within the
    /// commit window); null when the log ended cleanly. Not a problem, so not in <see cref="Problems"/>.
    /// </summary>
    public string? TornTail { get; init; }

    /// <summary>True when a newer checkpoint was unusable and an older one was recovered.</summary>
    public bool FellBackToOlderCheckpoint { get; init; }

    /// <summary>Where a damaged directory was moved, when <see cref="UnrecoverableDataPolicy.MoveAsideAndStartEmpty"/> applied.</summary>
    public string? MovedAsideTo { get; init; }

    /// <summary>Wall time of the whole open.</summary>
    public TimeSpan Duration { get; init; }
}

/// <summary>Counters of an <see cref="EntryStore"/> since it was opened (entry count and bytes are current values).</summary>
public readonly record struct EntryStoreStatistics(
    long Entries,
    long Bytes,
    long Sets,
    long Replacements,
    long Hits,
    long Misses,
    long Deletes,
    long Expirations,
    long Evictions,
    long Checkpoints,
    long WalCommits,
    long CorruptRecords);

/// <summary>Whether the store can take writes now.</summary>
/// <param name="Writable">False after a failed write-ahead-log commit until a retried commit succeeds.</param>
/// <param name="Reason">Why it cannot write (data directory and OS reason), or null when writable.</param>
/// <param name="Since">When it stopped being writable, or null when writable.</param>
public sealed record StoreHealth(bool Writable, string? Reason, DateTimeOffset? Since)
{
    /// <summary>The healthy state.</summary>
    public static StoreHealth Healthy { get; } = new(true, null, null);
}

/// <summary>A live entry as the in-memory directory knows it (no disk read).</summary>
/// <param name="Id">Identifier.</param>
/// <param name="Partition">Partition hash.</param>
/// <param name="NamespaceHash">Namespace hash (<see cref="EntryStore.NamespaceHashOf"/>).</param>
/// <param name="VectorDimension">Length of the stored vector (0 when none).</param>
public readonly record struct LiveEntryInfo(ulong Id, ulong Partition, ulong NamespaceHash, int VectorDimension);

/// <summary>One Set of <see cref="EntryStore.SetManyAsync"/>.</summary>
/// <param name="Key">Exact-match key.</param>
/// <param name="Entry">The entry.</param>
/// <param name="Ttl">Time to live; the default when null.</param>
public readonly record struct EntryWrite(ExactKey Key, CacheEntry Entry, TimeSpan? Ttl);
