using Microsoft.Extensions.Logging;
using SemCache.Storage;

namespace SemCache.Cache.Store;

/// <summary>The engine's entry store on local disk: <see cref="EntryStore"/> (FASTER KV, write-ahead log, checkpoints).</summary>
internal sealed class FasterCacheStore : ICacheEntryStore
{
    private readonly EntryStore _store;

    private FasterCacheStore(EntryStore store) => _store = store;

    public RecoveryReport Recovery => _store.Recovery;

    public long Count => _store.Count;

    public long Bytes => _store.Bytes;

    public long CheckpointSequence => _store.CheckpointSequence;

    public int MaxEntryBytes => _store.Options.MaxEntryBytes;

    public CacheHealth Health => _store.Health is { Writable: false } health ? new CacheHealth(false, health.Reason) : CacheHealth.Ok;

    /// <summary>The store itself, for tests that crash it.</summary>
    internal EntryStore Inner => _store;

    public static async Task<FasterCacheStore> OpenAsync(EntryStoreOptions options, IEntryStoreObserver observer, ILoggerFactory loggerFactory, TimeProvider? timeProvider, CancellationToken cancellationToken)
    {
        EntryStore store = await EntryStore.OpenAsync(options, observer, loggerFactory.CreateLogger<EntryStore>(), timeProvider, cancellationToken).ConfigureAwait(false);
        return new FasterCacheStore(store);
    }

    public long CountInNamespace(string ns) => _store.CountInNamespace(ns);

    public int MeasureEntry(in ExactKey key, CacheEntry entry) => EntryStore.MeasureEntry(key, entry);

    public ValueTask<CacheEntry?> GetByExactKeyAsync(ExactKey key, bool includeVector, CancellationToken cancellationToken) => _store.GetByExactKeyAsync(key, includeVector, cancellationToken);

    public ValueTask<CacheEntry?> GetByIdAsync(ulong id, bool includeVector, CancellationToken cancellationToken) => _store.GetByIdAsync(id, includeVector, cancellationToken);

    public bool Contains(ulong id) => _store.Contains(id);

    public async ValueTask<IReadOnlyList<SetResult>> SetManyAsync(IReadOnlyList<StoreWrite> writes, CancellationToken cancellationToken)
    {
        var batch = new EntryWrite[writes.Count];
        for (int i = 0; i < batch.Length; i++)
        {
            batch[i] = new EntryWrite(writes[i].Key, writes[i].Entry, writes[i].Ttl);
        }

        return await _store.SetManyAsync(batch, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<bool> DeleteAsync(ulong id, CancellationToken cancellationToken) => _store.DeleteAsync(id, cancellationToken);

    public ValueTask<int> DeletePartitionAsync(ulong partition, CancellationToken cancellationToken) => _store.DeletePartitionAsync(partition, cancellationToken);

    public ValueTask<int> DeleteNamespaceAsync(string ns, CancellationToken cancellationToken) => _store.DeleteNamespaceAsync(ns, cancellationToken);

    public IEnumerable<StoredEntryInfo> EnumerateLive()
    {
        foreach (LiveEntryInfo live in _store.EnumerateLiveIds())
        {
            yield return new StoredEntryInfo(live.Id, live.Partition, live.NamespaceHash, live.VectorDimension);
        }
    }

    public IEnumerable<LiveEntry> EnumerateLiveVectors() => _store.EnumerateLiveEntries();

    public async Task<long> CheckpointAsync(CancellationToken cancellationToken) => (await _store.CheckpointAsync(cancellationToken).ConfigureAwait(false)).Sequence;

    public int SweepExpired() => _store.SweepExpired();

    public EntryStoreStatistics GetStatistics() => _store.GetStatistics();

    public ValueTask DisposeAsync() => _store.DisposeAsync();
}
