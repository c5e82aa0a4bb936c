using SemCache.Storage;

namespace SemCache.Cache.Store;

/// <summary>
/// What the engine needs of the place that keeps its entries: exact-key and id reads, atomic batched writes, deletes,
/// TTLs and capacity (with removals reported back through <see cref="IEntryStoreObserver"/>), checkpoints, and a cheap
/// enumeration of what is live for reconciling the vector index. <see cref="FasterCacheStore"/> (FASTER KV on local disk)
/// is the first implementation; a cluster mode can keep entries elsewhere behind the same interface. The vocabulary
/// (<see cref="CacheEntry"/>, <see cref="ExactKey"/>, <see cref="SetResult"/>) is the storage component's.
/// </summary>
/// <remarks>
/// Errors: a write that cannot be made durable throws the store's unavailable exception; an entry over the stored size
/// limit throws its too-large exception before anything of the batch is written (<see cref="StoreErrors"/> maps both).
/// </remarks>
internal interface ICacheEntryStore : IAsyncDisposable
{
    /// <summary>What the store found and restored when it opened.</summary>
    RecoveryReport Recovery { get; }

    /// <summary>Live entries.</summary>
    long Count { get; }

    /// <summary>Serialized bytes of the live entries (what <c>Storage:MaxBytes</c> limits).</summary>
    long Bytes { get; }

    /// <summary>Sequence of the newest completed checkpoint.</summary>
    long CheckpointSequence { get; }

    /// <summary>Largest stored entry, in the bytes <see cref="MeasureEntry"/> counts.</summary>
    int MaxEntryBytes { get; }

    /// <summary>Whether writes can be made durable now, and why not.</summary>
    CacheHealth Health { get; }

    /// <summary>Live entries of one namespace.</summary>
    long CountInNamespace(string ns);

    /// <summary>Stored size of an entry, for checking a batch before any of it is written.</summary>
    int MeasureEntry(in ExactKey key, CacheEntry entry);

    /// <summary>An entry by exact key; its vector is decoded only when <paramref name="includeVector"/> (lookups answer without it).</summary>
    ValueTask<CacheEntry?> GetByExactKeyAsync(ExactKey key, bool includeVector, CancellationToken cancellationToken);

    /// <summary>An entry by id; its vector is decoded only when <paramref name="includeVector"/>.</summary>
    ValueTask<CacheEntry?> GetByIdAsync(ulong id, bool includeVector, CancellationToken cancellationToken);

    /// <summary>True while the entry is live (an in-memory check, no record read).</summary>
    bool Contains(ulong id);

    /// <summary>Writes every entry or none: all are checked first; in strict durability one commit covers the batch.</summary>
    ValueTask<IReadOnlyList<SetResult>> SetManyAsync(IReadOnlyList<StoreWrite> writes, CancellationToken cancellationToken);

    ValueTask<bool> DeleteAsync(ulong id, CancellationToken cancellationToken);

    ValueTask<int> DeletePartitionAsync(ulong partition, CancellationToken cancellationToken);

    ValueTask<int> DeleteNamespaceAsync(string ns, CancellationToken cancellationToken);

    /// <summary>Every live entry's id, partition, namespace hash and vector dimension, without reading records.</summary>
    IEnumerable<StoredEntryInfo> EnumerateLive();

    /// <summary>Every live entry with its vector, by one sequential scan of the records (for adding many at once).</summary>
    IEnumerable<LiveEntry> EnumerateLiveVectors();

    Task<long> CheckpointAsync(CancellationToken cancellationToken);

    int SweepExpired();

    EntryStoreStatistics GetStatistics();
}

/// <summary>One entry to write.</summary>
/// <param name="Key">Its exact key.</param>
/// <param name="Entry">The entry.</param>
/// <param name="Ttl">Its time to live; the store's default when null.</param>
internal readonly record struct StoreWrite(ExactKey Key, CacheEntry Entry, TimeSpan? Ttl);

/// <summary>A live entry as the store's directory knows it.</summary>
/// <param name="Id">Its id.</param>
/// <param name="Partition">Its 64-bit partition key.</param>
/// <param name="NamespaceHash">Its namespace's hash (<see cref="EntryStore.NamespaceHashOf"/>).</param>
/// <param name="VectorDimension">Its vector's dimension; 0 when it has none (exact only).</param>
internal readonly record struct StoredEntryInfo(ulong Id, ulong Partition, ulong NamespaceHash, int VectorDimension);
