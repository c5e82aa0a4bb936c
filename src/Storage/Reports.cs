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
/// <see cref="EntryStore.GetByIdAsync"/>); otherwise rebuild it from <see cref="EntryStore.EnumerateLiveEntries"/>. The
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
