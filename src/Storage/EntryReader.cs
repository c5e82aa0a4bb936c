using System.Buffers.Binary;
using FASTER.core;
using Microsoft.Extensions.Logging;

namespace SemCache.Storage;

/// <summary>
/// Reads: exact-key and id lookups (directory first, then the record from FASTER, validated), the scan that enumerates
/// live entries with their vectors, hit/miss counters, and the count of reads in flight that shutdown waits for before it
/// closes FASTER under them.
/// </summary>
internal sealed class EntryReader
{
    private readonly EntryStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private RecordLog? _records;
    private EntryDirectory? _directory;
    private int _activeReads;
    private bool _closed;
    private long _hits;
    private long _misses;
    private long _corruptRecords;

    public EntryReader(EntryStoreOptions options, TimeProvider time, ILogger logger)
    {
        _options = options;
        _time = time;
        _logger = logger;
    }

    public long Hits => Interlocked.Read(ref _hits);

    public long Misses => Interlocked.Read(ref _misses);

    public long CorruptRecords => Interlocked.Read(ref _corruptRecords);

    /// <summary>What to read from, once the store is open (neither changes afterwards).</summary>
    public void Attach(RecordLog records, EntryDirectory directory)
    {
        _records = records;
        _directory = directory;
    }

    /// <summary>Refuses new reads and waits for those in flight.</summary>
    public async Task CloseAsync()
    {
        Volatile.Write(ref _closed, true);
        while (Volatile.Read(ref _activeReads) > 0)
        {
            await Task.Delay(1).ConfigureAwait(false);
        }
    }

    public ValueTask<CacheEntry?> GetByExactKeyAsync(ExactKey key, bool includeVector, CancellationToken cancellationToken)
    {
        if (!_directory!.TryGetByExactKey(key.Hash(), out var meta))
        {
            Interlocked.Increment(ref _misses);
            return new ValueTask<CacheEntry?>((CacheEntry?)null);
        }

        return ReadEntryAsync(meta, key, checkKey: true, includeVector, cancellationToken);
    }

    public ValueTask<CacheEntry?> GetByIdAsync(ulong id, bool includeVector, CancellationToken cancellationToken)
    {
        if (!_directory!.TryGetById(id, out var meta))
        {
            Interlocked.Increment(ref _misses);
            return new ValueTask<CacheEntry?>((CacheEntry?)null);
        }

        return ReadEntryAsync(meta, default, checkKey: false, includeVector, cancellationToken);
    }

    private async ValueTask<CacheEntry?> ReadEntryAsync(EntryMeta meta, ExactKey key, bool checkKey, bool includeVector, CancellationToken cancellationToken)
    {
        EnterRead();
        try
        {
            return await ReadEntryCoreAsync(meta, key, checkKey, includeVector, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _activeReads);
        }
    }

    /// <summary>Registers a read so that shutdown waits for it before it closes FASTER under it.</summary>
    private void EnterRead()
    {
        Interlocked.Increment(ref _activeReads);
        if (Volatile.Read(ref _closed))
        {
            Interlocked.Decrement(ref _activeReads);
            throw new ObjectDisposedException(nameof(EntryStore));
        }
    }

    private async ValueTask<CacheEntry?> ReadEntryCoreAsync(EntryMeta meta, ExactKey key, bool checkKey, bool includeVector, CancellationToken cancellationToken)
    {
        var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        if (Volatile.Read(ref meta.ExpiresMs) <= nowMs)
        {
            Interlocked.Increment(ref _misses);
            return null;
        }

        var (found, output) = await _records!.ReadAsync(meta.Id, cancellationToken).ConfigureAwait(false);

        if (!found)
        {
            // Deleted between the directory lookup and the read.
            Interlocked.Increment(ref _misses);
            output.Memory?.Dispose();
            return null;
        }

        try
        {
            var record = RecordLog.Bytes(output);
            if (!EntryRecord.TryReadHeader(record, out var header, out var problem) || header.Id != meta.Id)
            {
                Interlocked.Increment(ref _corruptRecords);
                Interlocked.Increment(ref _misses);
                Log.CorruptRecord(_logger, meta.Id, problem ?? $"record holds id {header.Id}");
                return null;
            }

            if (checkKey && !key.Matches(header.Partition, EntryRecord.ExactKeyText(record)))
            {
                // 128-bit hash collision: a different exact key. A miss, not a wrong answer.
                Interlocked.Increment(ref _misses);
                return null;
            }

            if (_options.SlidingExpiration)
            {
                Volatile.Write(ref meta.ExpiresMs, nowMs + meta.TtlMs);
            }

            if (_options.Eviction == EvictionPolicy.LeastRecentlyHit)
            {
                Volatile.Write(ref meta.LastHitMs, nowMs);
            }

            Interlocked.Increment(ref _hits);
            return EntryRecord.Decode(record, Volatile.Read(ref meta.ExpiresMs), includeVector);
        }
        finally
        {
            output.Memory?.Dispose();
        }
    }

    /// <summary>The live entries with their vectors, by a sequential scan of the hybrid log.</summary>
    public IEnumerable<LiveEntry> EnumerateLiveEntries()
    {
        EnterRead();
        try
        {
            var seen = new HashSet<ulong>();
            var directory = _directory!;
            using var iterator = _records!.Scan();
            while (iterator.GetNext(out var recordInfo))
            {
                if (recordInfo.Tombstone)
                {
                    continue;
                }

                var live = TryReadLive(iterator, directory, seen);
                if (live is { } entry)
                {
                    yield return entry;
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _activeReads);
        }
    }

    private LiveEntry? TryReadLive(IFasterScanIterator<SpanByte, SpanByte> iterator, EntryDirectory directory, HashSet<ulong> seen)
    {
        ref var key = ref iterator.GetKey();
        if (key.Length != 8)
        {
            return null;
        }

        var id = BinaryPrimitives.ReadUInt64LittleEndian(key.AsReadOnlySpan());
        if (!directory.TryGetById(id, out var meta) || !seen.Add(id))
        {
            return null;
        }

        ref var value = ref iterator.GetValue();
        var record = value.AsReadOnlySpan();
        if (!EntryRecord.TryReadHeader(record, out var header, out var problem) || header.Id != id)
        {
            Interlocked.Increment(ref _corruptRecords);
            Log.CorruptRecord(_logger, id, problem ?? "id mismatch");
            return null;
        }

        return new LiveEntry(id, meta.Partition, EntryRecord.ReadVector(record));
    }
}
