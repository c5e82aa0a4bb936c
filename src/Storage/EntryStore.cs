using System.Buffers;
using System.Diagnostics;
using FASTER.core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

// This file is over 600 lines because it is the store's whole public surface (about thirty members, each with its XML
// documentation); the work behind each member lives in the internal types listed in the remarks below.
[module: System.Runtime.CompilerServices.SkipLocalsInit]

namespace SemCache.Storage;

/// <summary>
/// The cache's entry store: every entry as a versioned binary record in a FASTER KV hybrid log (id → record), an
/// in-memory directory (exact key → id, TTL and recency per entry), a write-ahead log (FASTER Log) for durability between
/// checkpoints, TTLs with a background sweep, capacity limits with eviction, and recovery of all of it at start-up.
/// </summary>
/// <remarks>
/// <para>This type is the façade; each job lives in its own internal type: <see cref="EntryWriter"/> (the write path and
/// the write lock), <see cref="EntryReader"/> (lookups and scans), <see cref="CommitScheduler"/> (group and periodic
/// commits, retry after a failed commit), <see cref="StoreHealthMonitor"/> (whether writes can be made durable),
/// <see cref="CheckpointKeeper"/> (checkpoints, retention, restore), <see cref="StoreOpener"/> (create or recover),
/// <see cref="WriteAheadLogReplay"/> and <see cref="WriteAheadLogReader"/> (replay that skips damaged records),
/// <see cref="RecordLog"/> (FASTER KV), <see cref="DataDirectoryLayout"/> (paths, FORMAT, LOCK, EPOCH, move-aside),
/// <see cref="MaintenanceLoops"/> (periodic checkpoints and sweeps).</para>
/// <para>Durability: every mutation is appended to the write-ahead log under the write lock, then applied to FASTER and
/// the directory, so the log order is the apply order. A checkpoint captures, under the same lock, the directory and the
/// log address; the FASTER checkpoint that follows holds at least every change before that address. Recovery restores
/// the FASTER checkpoint and the directory snapshot, then replays the log from that address — an idempotent
/// last-writer-wins replay. <see cref="DurabilityMode.Strict"/> makes each Set wait for a log commit; commits are
/// grouped (<see cref="CommitScheduler"/>).</para>
/// <para>The write-ahead log was chosen over per-batch FASTER checkpoints for group commit because a log commit writes
/// only the appended bytes plus a small commit record, while even an incremental fold-over checkpoint walks FASTER's
/// checkpoint state machine, writes metadata files and makes the whole log read-only each time.</para>
/// </remarks>
public sealed class EntryStore : IAsyncDisposable
{
    private readonly EntryStoreOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IEntryStoreObserver? _observer;
    private readonly DataDirectoryLayout _layout;
    private readonly SemaphoreSlim _checkpointGate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly CheckpointKeeper _checkpoints;
    private readonly EntryReader _reader;
    private readonly List<Task> _background = [];
    private readonly StoreHealthMonitor _health;

    private RecordLog? _records;
    private FasterLog? _wal;
    private CommitScheduler? _commits;
    private TimeSpan _healthRetryInterval = TimeSpan.FromSeconds(1);
    private IDevice? _walDevice;
    private EntryWriter? _writer;
    private EntryDirectory _directory = new(); // the writer's; read here for counts, without the lock
    private bool _opened;
    private int _disposed;

    private long _sets;
    private long _replacements;
    private long _deletes;
    private long _expirations;

    private EntryStore(EntryStoreOptions options, IEntryStoreObserver? observer, ILogger? logger, TimeProvider? timeProvider)
    {
        _options = options;
        _observer = observer;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _layout = new DataDirectoryLayout(options.DataDirectory);
        _checkpoints = new CheckpointKeeper(_layout, _time, _logger);
        _reader = new EntryReader(options, _time, _logger);
        _health = new StoreHealthMonitor(_layout.Root, (failure, reason) =>
        {
            Log.Unwritable(_logger, failure, reason);
            _commits?.SignalUnwritable();
        });
        Recovery = new RecoveryReport();
    }

    /// <summary>What the open found and restored; the engine uses it to decide whether its index snapshot matches.</summary>
    public RecoveryReport Recovery { get; private set; }

    /// <summary>Number of live entries (expired entries not yet swept included).</summary>
    public long Count => Volatile.Read(ref _directory).Count;

    /// <summary>The hash of a namespace as the store keeps it (and reports it in <see cref="RemovedEntry.NamespaceHash"/>).</summary>
    /// <param name="ns">The namespace.</param>
    /// <returns>Its 64-bit hash.</returns>
    public static ulong NamespaceHashOf(string ns)
    {
        ArgumentNullException.ThrowIfNull(ns);
        return EntryRecord.NamespaceHash(ns);
    }

    /// <summary>Number of live entries in one namespace: O(1), from a per-namespace count the directory keeps; takes no lock.</summary>
    /// <param name="ns">The namespace.</param>
    /// <returns>Its entry count.</returns>
    public long CountInNamespace(string ns) => Volatile.Read(ref _directory).CountInNamespace(NamespaceHashOf(ns));

    /// <summary>
    /// Serialized size of an entry as the store would write it (what <see cref="EntryStoreOptions.MaxEntryBytes"/>
    /// limits), so a caller can check before it does expensive work.
    /// </summary>
    /// <param name="key">Its exact key.</param>
    /// <param name="entry">The entry.</param>
    /// <returns>Bytes.</returns>
    public static int MeasureEntry(ExactKey key, CacheEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return EntryRecord.Measure(entry, key);
    }

    /// <summary>Whether the store takes writes now; turns not writable on a failed commit and back once a retried commit succeeds.</summary>
    public StoreHealth Health => _health.Current;

    /// <summary>Write-ahead-log tail (for tests that wait for a periodic commit).</summary>
    internal long WalTailAddress => _wal?.TailAddress ?? 0;

    /// <summary>Write-ahead-log address committed so far (for tests).</summary>
    internal long WalCommittedAddress => _wal?.CommittedUntilAddress ?? 0;

    /// <summary>What the store holds in memory, by part (a diagnostic: the memory benchmark reports it).</summary>
    /// <returns>Sizes read from FASTER's allocator and hash index.</returns>
    /// <exception cref="InvalidOperationException">The store is not open.</exception>
    public StoreMemory GetMemoryUsage()
    {
        RecordLog records = _records ?? throw new InvalidOperationException("The entry store is not open.");
        long head = records.HeadAddress, tail = records.TailAddress, begin = records.BeginAddress;
        long wal = _wal is null ? 0 : 1L << WriteAheadLog.MemoryBits(_options.PageSizeBytes);
        return new StoreMemory(Count, records.AllocatedLogBytes, tail - Math.Max(head, begin), Math.Max(0, head - begin), records.HashIndexBytes, wal, Bytes);
    }

    /// <summary>Namespace hashes with a live-entry counter (for tests: a counter reaching zero must go).</summary>
    internal int TrackedNamespaces => Volatile.Read(ref _directory).NamespaceCount;

    /// <summary>Serialized bytes of the live entries (what <see cref="EntryStoreOptions.MaxBytes"/> limits).</summary>
    public long Bytes => Volatile.Read(ref _directory).Bytes;

    /// <summary>Sequence of the newest completed checkpoint.</summary>
    public long CheckpointSequence => _checkpoints.Sequence;

    /// <summary>The options the store runs with.</summary>
    public EntryStoreOptions Options => _options;

    /// <summary>Opens the store in <see cref="EntryStoreOptions.DataDirectory"/>, creating it or recovering what it holds.</summary>
    /// <param name="options">Options; validated first.</param>
    /// <param name="observer">Receives removals (eviction, expiry, deletes, replacements) and checkpoint captures; may be null.</param>
    /// <param name="logger">Logger; null for none.</param>
    /// <param name="timeProvider">Clock for TTLs and the sweep; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="cancellationToken">Cancels the open.</param>
    /// <returns>The open store; <see cref="Recovery"/> says what was recovered.</returns>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    /// <exception cref="EntryStoreCorruptedException">The directory is damaged and <see cref="EntryStoreOptions.OnUnrecoverableData"/> is <see cref="UnrecoverableDataPolicy.Fail"/>.</exception>
    /// <exception cref="EntryStoreVersionException">The directory was written in another format version.</exception>
    public static async Task<EntryStore> OpenAsync(EntryStoreOptions options, IEntryStoreObserver? observer = null, ILogger? logger = null, TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var store = new EntryStore(options, observer, logger, timeProvider);
        using var opener = new StoreOpener(options, store._layout, store._checkpoints, store._health, store._time, store._logger, store.CreateDevice);
        try
        {
            var opened = await opener.OpenAsync(cancellationToken).ConfigureAwait(false);
            (store._records, store._directory, store._writer, store._wal, store._walDevice, store.Recovery) = opened;
        }
        catch
        {
            store.DisposeResources();
            throw;
        }

        store._reader.Attach(store._records!, store._directory);
        store._opened = true;
        store.StartBackgroundTasks();
        return store;
    }

    // ================================================================================================================
    // Writes (EntryWriter): here only counters, notifications and the wait for durability
    // ================================================================================================================

    /// <summary>
    /// Stores an entry under its exact key, replacing any live entry with the same key. Returns once the entry is visible
    /// to reads and, in <see cref="DurabilityMode.Strict"/>, durable.
    /// </summary>
    /// <param name="key">Exact-match key.</param>
    /// <param name="entry">The entry; its Id, CreatedUnixMs and ExpiresUnixMs are assigned by the store.</param>
    /// <param name="ttl">Time to live; <see cref="EntryStoreOptions.DefaultTtl"/> when null, clamped to <see cref="EntryStoreOptions.MaxTtl"/> (the engine rejects a longer one before it gets here).</param>
    /// <param name="cancellationToken">Cancels waiting for durability (the entry is stored either way).</param>
    /// <returns>The assigned id and times, and the replaced id if any.</returns>
    /// <exception cref="EntryTooLargeException">The entry serializes to more than <see cref="EntryStoreOptions.MaxEntryBytes"/>.</exception>
    /// <exception cref="StoreUnavailableException">The store cannot make writes durable now (see <see cref="Health"/>).</exception>
    public ValueTask<SetResult> SetAsync(ExactKey key, CacheEntry entry, TimeSpan? ttl = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var writer = Writer;
        var size = writer.Validate(key, entry, ttl, 0);
        RemovedBuffer removed = default;
        SetResult result = default;
        var write = new EntryWrite(key, entry, ttl);
        var walEnd = writer.Set(new ReadOnlySpan<EntryWrite>(in write), new ReadOnlySpan<int>(in size), NowMs(), new Span<SetResult>(ref result), ref removed);
        CountSet(result);
        Notify(ref removed);
        var durable = WaitForDurabilityAsync(walEnd, cancellationToken);
        if (!durable.IsCompletedSuccessfully)
        {
            return AwaitDurable(durable, result);
        }

        return new ValueTask<SetResult>(result);

        static async ValueTask<SetResult> AwaitDurable(ValueTask durable, SetResult result)
        {
            await durable.ConfigureAwait(false);
            return result;
        }
    }

    /// <summary>
    /// Stores several entries atomically with respect to validation: every entry is checked first (key, fingerprint and
    /// attribute limits, time to live, serialized size) and nothing is written if one fails. Then all are appended under
    /// one acquisition of the write lock, in order, and in <see cref="DurabilityMode.Strict"/> the call waits for one
    /// group commit covering all of them. A crash can still keep a prefix of the batch (the log is replayed in order).
    /// </summary>
    /// <param name="writes">The entries, with their keys and times to live.</param>
    /// <param name="cancellationToken">Cancels waiting for durability (the entries are stored either way).</param>
    /// <returns>One result per write, in order.</returns>
    /// <exception cref="EntryTooLargeException">An entry is too large; <see cref="EntryTooLargeException.Index"/> says which.</exception>
    /// <exception cref="StoreUnavailableException">The store cannot make writes durable now (see <see cref="Health"/>).</exception>
    public async Task<IReadOnlyList<SetResult>> SetManyAsync(IReadOnlyList<EntryWrite> writes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(writes);
        if (writes.Count == 0)
        {
            return [];
        }

        var batch = writes as EntryWrite[] ?? [.. writes];
        var writer = Writer;
        var sizes = new int[batch.Length];
        for (var i = 0; i < batch.Length; i++)
        {
            if (batch[i].Entry is null)
            {
                throw new ArgumentException($"Write {i} has no entry; nothing was written.", nameof(writes));
            }

            sizes[i] = writer.Validate(batch[i].Key, batch[i].Entry, batch[i].Ttl, i);
        }

        var results = new SetResult[batch.Length];
        RemovedBuffer removed = default;
        var walEnd = writer.Set(batch, sizes, NowMs(), results, ref removed);
        foreach (var result in results)
        {
            CountSet(result);
        }

        Notify(ref removed);
        await WaitForDurabilityAsync(walEnd, cancellationToken).ConfigureAwait(false);
        return results;
    }

    private void CountSet(in SetResult result)
    {
        Interlocked.Increment(ref _sets);
        if (result.Replaced)
        {
            Interlocked.Increment(ref _replacements);
        }
    }

    /// <summary>Deletes an entry by id.</summary>
    /// <param name="id">The entry's id.</param>
    /// <param name="cancellationToken">Cancels waiting for durability.</param>
    /// <returns>True if a live entry was deleted.</returns>
    /// <exception cref="StoreUnavailableException">The store cannot make writes durable now (see <see cref="Health"/>); nothing was deleted.</exception>
    public async ValueTask<bool> DeleteAsync(ulong id, CancellationToken cancellationToken = default)
    {
        RemovedBuffer removed = default;
        if (!Writer.Delete(id, ref removed, out var walEnd))
        {
            return false;
        }

        Interlocked.Increment(ref _deletes);
        Notify(ref removed);
        await WaitForDurabilityAsync(walEnd, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Deletes every entry whose exact key has the given partition hash.</summary>
    /// <param name="partition">Partition hash.</param>
    /// <param name="cancellationToken">Cancels waiting for durability.</param>
    /// <returns>How many entries were deleted.</returns>
    /// <exception cref="StoreUnavailableException">The store cannot make writes durable now (see <see cref="Health"/>); nothing was deleted.</exception>
    public ValueTask<int> DeletePartitionAsync(ulong partition, CancellationToken cancellationToken = default) =>
        DeleteWhereAsync(static (meta, p) => meta.Partition == p, partition, cancellationToken);

    /// <summary>Deletes every entry of a namespace.</summary>
    /// <param name="ns">The namespace.</param>
    /// <param name="cancellationToken">Cancels waiting for durability.</param>
    /// <returns>How many entries were deleted.</returns>
    /// <exception cref="StoreUnavailableException">The store cannot make writes durable now (see <see cref="Health"/>); nothing was deleted.</exception>
    public ValueTask<int> DeleteNamespaceAsync(string ns, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ns);
        return DeleteWhereAsync(static (meta, h) => meta.NamespaceHash == h, EntryRecord.NamespaceHash(ns), cancellationToken);
    }

    private async ValueTask<int> DeleteWhereAsync(Func<EntryMeta, ulong, bool> match, ulong argument, CancellationToken cancellationToken)
    {
        RemovedBuffer removed = default;
        var walEnd = Writer.DeleteWhere(match, argument, ref removed);
        var count = removed.Count;
        Interlocked.Add(ref _deletes, count);
        Notify(ref removed);
        if (count > 0)
        {
            await WaitForDurabilityAsync(walEnd, cancellationToken).ConfigureAwait(false);
        }

        return count;
    }

    /// <summary>
    /// Removes every expired entry now (the background sweep calls this every <see cref="EntryStoreOptions.SweepInterval"/>)
    /// and reports them to the observer.
    /// </summary>
    /// <returns>How many entries were removed.</returns>
    public int SweepExpired()
    {
        var nowMs = NowMs();
        var total = 0;
        bool more;
        do
        {
            RemovedBuffer removed = default;
            more = Writer.SweepChunk(nowMs, ref removed);
            var count = removed.Count;
            total += count;
            Interlocked.Add(ref _expirations, count);
            Notify(ref removed);
        }
        while (more);

        if (total > 0)
        {
            Log.Swept(_logger, total);
        }

        return total;
    }

    // ================================================================================================================
    // Reads (EntryReader)
    // ================================================================================================================

    /// <summary>Looks an entry up by exact key. Never returns an expired entry.</summary>
    /// <param name="key">The exact key.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The entry, or null.</returns>
    public ValueTask<CacheEntry?> GetByExactKeyAsync(ExactKey key, CancellationToken cancellationToken = default) => _reader.GetByExactKeyAsync(key, includeVector: true, cancellationToken);

    /// <summary>Looks an entry up by exact key, with or without its vector. Never returns an expired entry.</summary>
    /// <param name="key">The exact key.</param>
    /// <param name="includeVector">Whether to decode the stored vector (lookups that answer with the prompt and response
    /// leave it out: it is most of a record's bytes). When false, <see cref="CacheEntry.Vector"/> is empty.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The entry, or null.</returns>
    public ValueTask<CacheEntry?> GetByExactKeyAsync(ExactKey key, bool includeVector, CancellationToken cancellationToken = default) => _reader.GetByExactKeyAsync(key, includeVector, cancellationToken);

    /// <summary>Looks an entry up by id (as found by the vector index). Never returns an expired entry.</summary>
    /// <param name="id">The entry id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The entry, or null.</returns>
    public ValueTask<CacheEntry?> GetByIdAsync(ulong id, CancellationToken cancellationToken = default) => _reader.GetByIdAsync(id, includeVector: true, cancellationToken);

    /// <summary>Looks an entry up by id, with or without its vector. Never returns an expired entry.</summary>
    /// <param name="id">The entry id.</param>
    /// <param name="includeVector">Whether to decode the stored vector; when false, <see cref="CacheEntry.Vector"/> is empty.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The entry, or null.</returns>
    public ValueTask<CacheEntry?> GetByIdAsync(ulong id, bool includeVector, CancellationToken cancellationToken = default) => _reader.GetByIdAsync(id, includeVector, cancellationToken);

    /// <summary>True while the entry is in the store (an in-memory lookup, no record read; an expired entry not yet swept counts).</summary>
    /// <param name="id">The entry id.</param>
    /// <returns>Whether the store holds it.</returns>
    public bool Contains(ulong id) => Volatile.Read(ref _directory).TryGetById(id, out _);

    /// <summary>
    /// Enumerates the live entries with their vectors, in log order, by a sequential scan of the hybrid log (fast even when
    /// most of it is on disk). For rebuilding the vector index after recovery when its snapshot does not match.
    /// Entries added or removed during the enumeration may or may not appear.
    /// </summary>
    /// <returns>The live entries.</returns>
    public IEnumerable<LiveEntry> EnumerateLiveEntries() => _reader.EnumerateLiveEntries();

    /// <summary>
    /// Enumerates the live entries as the in-memory directory knows them, without reading a record: ids, partitions,
    /// namespace hashes and vector dimensions. The list of entries is copied under the write lock (a memory copy of one
    /// reference per entry, so writers wait only for that), then read outside it; entries added or removed during the
    /// enumeration may or may not appear.
    /// </summary>
    /// <returns>The live entries.</returns>
    public IEnumerable<LiveEntryInfo> EnumerateLiveIds()
    {
        EntryMeta[] copy;
        int count;
        lock (Writer.Lock)
        {
            count = _directory.Count;
            copy = ArrayPool<EntryMeta>.Shared.Rent(Math.Max(count, 1));
            _directory.CopySlots(copy);
        }

        return Enumerate(copy, count);

        static IEnumerable<LiveEntryInfo> Enumerate(EntryMeta[] copy, int count)
        {
            try
            {
                for (var i = 0; i < count; i++)
                {
                    var meta = copy[i];
                    yield return new LiveEntryInfo(meta.Id, meta.Partition, meta.NamespaceHash, meta.VectorDimension);
                }
            }
            finally
            {
                ArrayPool<EntryMeta>.Shared.Return(copy, clearArray: true);
            }
        }
    }

    /// <summary>Current counters.</summary>
    /// <returns>A snapshot of the statistics.</returns>
    public EntryStoreStatistics GetStatistics()
    {
        var directory = Volatile.Read(ref _directory);
        return new EntryStoreStatistics(
            directory.Count,
            directory.Bytes,
            Interlocked.Read(ref _sets),
            Interlocked.Read(ref _replacements),
            _reader.Hits,
            _reader.Misses,
            Interlocked.Read(ref _deletes),
            Interlocked.Read(ref _expirations),
            _writer?.Evictions ?? 0,
            _checkpoints.Count,
            _commits?.Commits ?? 0,
            _reader.CorruptRecords);
    }

    // ================================================================================================================
    // Durability: group commit and checkpoints
    // ================================================================================================================

    /// <summary>Waits until a write that ends at <paramref name="walEnd"/> is durable as the mode promises.</summary>
    private ValueTask WaitForDurabilityAsync(long walEnd, CancellationToken cancellationToken) =>
        _commits is { } commits ? commits.WaitForDurabilityAsync(walEnd, cancellationToken) : default;

    /// <summary>How often a store that cannot write retries a commit (tests shorten it).</summary>
    internal TimeSpan HealthRetryInterval
    {
        get => _commits?.HealthRetryInterval ?? _healthRetryInterval;
        set
        {
            _healthRetryInterval = value;
            if (_commits is { } commits)
            {
                commits.HealthRetryInterval = value;
            }
        }
    }

    /// <summary>A retried commit succeeded: checkpoint, so that recovery need not replay across the failed range.</summary>
    private void OnWritableAgain() =>
        _ = Task.Run(() => CheckpointAsync(_stopping.Token), CancellationToken.None).ContinueWith(
            t => Log.BackgroundFailure(_logger, t.Exception!, "checkpoint after the store became writable again"),
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted,
            TaskScheduler.Default);

    private EntryWriter Writer => _writer ?? throw new InvalidOperationException("The entry store is not open.");


    /// <summary>
    /// Compacts the hybrid log: live records below its read-only boundary are copied to the tail and the log's begin
    /// address moves past them; the next checkpoint deletes the files before it. Until a second checkpoint has been taken,
    /// recovery cannot fall back to a checkpoint from before the compaction (the periodic compaction takes both at once).
    /// Runs beside reads and writes; the periodic checkpoint runs it when <see cref="EntryStoreOptions.LogCompactionRatio"/>
    /// says so.
    /// </summary>
    /// <param name="cancellationToken">Cancels waiting for a checkpoint in progress.</param>
    /// <returns>Bytes of log address space reclaimed.</returns>
    public async Task<long> CompactAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _checkpointGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var records = _records!;
            var until = records.SafeReadOnlyAddress;
            return until <= records.BeginAddress ? 0 : records.Compact(until);
        }
        finally
        {
            _checkpointGate.Release();
        }
    }


    /// <summary>
    /// Takes a checkpoint of the records (FASTER fold-over checkpoint of index and log) and the directory, then trims the
    /// write-ahead log to what the previous retained checkpoint still needs. Taken periodically and on graceful shutdown.
    /// </summary>
    /// <param name="cancellationToken">Cancels waiting for a checkpoint already in progress.</param>
    /// <returns>The checkpoint's sequence number (for the index snapshot header) and size.</returns>
    public async Task<CheckpointInfo> CheckpointAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _checkpointGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await CheckpointCoreAsync().ConfigureAwait(false);
        }
        finally
        {
            _checkpointGate.Release();
        }
    }

    private async Task<CheckpointInfo> CheckpointCoreAsync()
    {
        CapturedCheckpoint captured;
        var writer = Writer;
        lock (writer.Lock)
        {
            captured = _checkpoints.Capture(writer.Directory, _records!, writer.Wal, writer.LastId, writer.LastLsn);
            try
            {
                // Not during OpenAsync: the engine has not restored its index yet (it matches CurrentCheckpointSequence
                // of the recovery report once it has).
                if (_opened)
                {
                    _observer?.OnCheckpointCaptured(captured.Sequence);
                }
            }
#pragma warning disable CA1031 // An observer bug must not fail the checkpoint.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.ObserverFailed(_logger, ex);
            }
        }

        return await _checkpoints.CompleteAsync(captured, _records!, _wal).ConfigureAwait(false);
    }

    private IDevice CreateDevice(string path)
    {
        IDevice device = Devices.CreateLogDevice(path, preallocateFile: false, deleteOnClose: false, recoverDevice: true);
        if (_options.DeviceWrapper is { } wrap)
        {
            device = wrap(device);
        }

        return string.Equals(path, _layout.KvBasePath, StringComparison.Ordinal) ? new HealthReportingDevice(device, _health.MarkHybridLogFailed) : device;
    }

    private void StartBackgroundTasks()
    {
        var stopping = _stopping.Token;
        if (_wal is not null)
        {
            var commits = _commits = new CommitScheduler(_wal, _options, _health, _logger, OnWritableAgain, stopping) { HealthRetryInterval = _healthRetryInterval, Committed = OnCommitCompleted };
            _background.Add(_options.Durability == DurabilityMode.Strict
                ? Task.Run(() => commits.RunGroupCommitAsync(stopping), CancellationToken.None)
                : Task.Run(() => commits.RunPeriodicCommitAsync(stopping), CancellationToken.None));
            _background.Add(Task.Run(() => commits.RunHealthRetryAsync(stopping), CancellationToken.None));
        }

        if (_options.CheckpointInterval > TimeSpan.Zero)
        {
            _background.Add(Task.Run(() => MaintenanceLoops.RunCheckpointsAsync(_options, _health, _records!, () => Bytes, CompactAsync, CheckpointAsync, _logger, stopping), CancellationToken.None));
        }

        if (_options.SweepInterval > TimeSpan.Zero)
        {
            _background.Add(Task.Run(() => MaintenanceLoops.RunSweepsAsync(_options.SweepInterval, _time, SweepExpired, _logger, stopping), CancellationToken.None));
        }
    }

    // ================================================================================================================
    // Shutdown
    // ================================================================================================================

    /// <summary>Graceful shutdown: stops accepting writes, takes a final checkpoint, commits the log and closes the files.</summary>
    /// <returns>A task that completes when the store is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _writer?.Close();
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_background).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        try
        {
            await _checkpointGate.WaitAsync().ConfigureAwait(false);
            try
            {
                await CloseDurablyAsync().ConfigureAwait(false);
            }
            finally
            {
                _checkpointGate.Release();
            }
        }
        finally
        {
            // Reads in flight finish before FASTER is closed under them; new ones are refused.
            await _reader.CloseAsync().ConfigureAwait(false);

            DisposeResources();
            _stopping.Dispose();
        }
    }

    /// <summary>
    /// The final checkpoint, unless the device cannot take it: then what could not be written is logged and the store
    /// closes anyway (never throws: a graceful stop after a disk-full episode must not turn into a failed exit).
    /// </summary>
    private async Task CloseDurablyAsync()
    {
        if (_health.NeedsRestart || (!_health.Writable && _commits is { } commits && !await commits.TryProbeCommitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false)))
        {
            Log.ClosedWithoutCheckpoint(_logger, _options.DataDirectory, _checkpoints.Sequence, _directory.Count, _health.Current.Reason ?? "");
            return;
        }

        try
        {
            // Bounded: if the hybrid-log device fails under the checkpoint, FASTER's flush never completes.
            var info = await CheckpointCoreAsync().WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
            if (_wal is not null)
            {
                await _wal.CommitAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }

            Log.Closed(_logger, info.Sequence, info.EntryCount);
        }
#pragma warning disable CA1031 // Close must finish whatever the device does; the failure is logged with what it cost.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.CloseCheckpointFailed(_logger, ex, _options.DataDirectory, _checkpoints.Sequence, _directory.Count);
        }
    }

    /// <summary>
    /// Test hook: stops like a killed process would after its last log commit — background work stops, the write-ahead
    /// log is committed (or not), and the files are closed without a final checkpoint.
    /// </summary>
    internal async Task SimulateCrashAsync(bool commitLog)
    {
        Interlocked.Exchange(ref _disposed, 1);
        _writer?.Close();
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_background).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await _checkpointGate.WaitAsync().ConfigureAwait(false);
        if (commitLog && _wal is not null)
        {
            await _wal.CommitAsync().ConfigureAwait(false);
        }

        await _reader.CloseAsync().ConfigureAwait(false);
        DisposeResources();
    }

    /// <summary>Closes the files; a failure of one is logged and does not keep the others open (close never throws).</summary>
    private void DisposeResources()
    {
        Close(_records, "hybrid log");
        _records = null;
        Close(_wal, "write-ahead log");
        _wal = null;
        Close(_walDevice, "write-ahead-log device");
        _walDevice = null;
        Close(_layout, "directory lock");

        void Close(IDisposable? resource, string what)
        {
            try
            {
                resource?.Dispose();
            }
#pragma warning disable CA1031 // After a device failure FASTER may throw from Dispose; the other files must still close.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.BackgroundFailure(_logger, ex, "closing the " + what);
            }
        }
    }

    // ================================================================================================================
    // Helpers
    // ================================================================================================================

    private long NowMs() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private void Notify(ref RemovedBuffer removed)
    {
        if (removed.Count == 0)
        {
            return;
        }

        try
        {
            if (_observer is not null)
            {
                if (removed.Many is { } many)
                {
                    _observer.OnEntriesRemoved(many.AsSpan(0, removed.Count));
                }
                else
                {
                    Span<RemovedEntry> one = stackalloc RemovedEntry[1];
                    one[0] = removed.First;
                    _observer.OnEntriesRemoved(one);
                }
            }
        }
#pragma warning disable CA1031 // An observer bug must not fail the store's operation.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.ObserverFailed(_logger, ex);
        }
        finally
        {
            removed.Dispose();
        }
    }

    private void OnCommitCompleted(TimeSpan elapsed)
    {
        try
        {
            _observer?.OnCommitCompleted(elapsed);
        }
#pragma warning disable CA1031 // An observer bug must not fail a commit.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.ObserverFailed(_logger, ex);
        }
    }
}
