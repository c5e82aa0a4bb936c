using System.Buffers;
using System.Buffers.Binary;
using FASTER.core;

namespace SemCache.Storage;

/// <summary>
/// The write path, under the write lock: every mutation is appended to the write-ahead log, then applied to FASTER and
/// the directory, so the log order is the apply order. Owns that lock and the state it guards (directory, log sequence
/// numbers, ids); the store adds notifications and the wait for durability around each call.
/// </summary>
internal sealed class EntryWriter
{
    private const int SweepChunkSize = 4096;
    private readonly EntryStoreOptions _options;
    private readonly StoreHealthMonitor _health;
    private readonly EvictionSampler _victims;
    private readonly RecordLog _records;
    private long _lastId;
    private long _lastLsn;
    private bool _closing;
    private long _evictions;

    public EntryWriter(EntryStoreOptions options, StoreHealthMonitor health, RecordLog records, EntryDirectory directory, FasterLog? wal, long lastId, long lastLsn)
    {
        _options = options;
        _health = health;
        _victims = new EvictionSampler(options);
        _records = records;
        Directory = directory;
        Wal = wal;
        _lastId = lastId;
        _lastLsn = lastLsn;
    }

    /// <summary>Held for every mutation, and by a checkpoint while it captures the state.</summary>
    public Lock Lock { get; } = new();

    public EntryDirectory Directory { get; }

    /// <summary>The write-ahead log appended to (null in <see cref="DurabilityMode.None"/>); replaced only at open.</summary>
    public FasterLog? Wal { get; set; }

    public long LastId => Interlocked.Read(ref _lastId);

    public long LastLsn => _lastLsn;

    public long Evictions => Interlocked.Read(ref _evictions);

    /// <summary>Refuses every later write.</summary>
    public void Close()
    {
        lock (Lock)
        {
            _closing = true;
        }
    }

    /// <summary>Checks an entry against every limit; returns its serialized size.</summary>
    public int Validate(in ExactKey key, CacheEntry entry, TimeSpan? ttl, int index)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (key.Text.Length > ExactKey.MaxTextBytes)
        {
            throw new ArgumentException($"Entry {index}: the exact key is {key.Text.Length} bytes; at most {ExactKey.MaxTextBytes} are allowed. Nothing was written.", nameof(key));
        }

        if (entry.ContextFingerprint.Length > 255)
        {
            throw new ArgumentException($"Entry {index}: ContextFingerprint is {entry.ContextFingerprint.Length} bytes; at most 255 are allowed. Nothing was written.", nameof(entry));
        }

        if (entry.Attributes.Count > ushort.MaxValue)
        {
            throw new ArgumentException($"Entry {index} has {entry.Attributes.Count} attributes; at most {ushort.MaxValue} are allowed. Nothing was written.", nameof(entry));
        }

        if (ttl is { } t && t <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), t, $"Entry {index}: a time to live must be positive. Nothing was written.");
        }

        var size = EntryRecord.Measure(entry, key);
        if (size > _options.MaxEntryBytes)
        {
            throw new EntryTooLargeException(index, size, _options.MaxEntryBytes);
        }

        return size;
    }

    /// <summary>
    /// Stores already validated entries (<paramref name="sizes"/> from <see cref="Validate"/>): serialized outside the
    /// lock, then logged and applied in order under one acquisition of it. Returns the log address the last one ends at.
    /// </summary>
    public long Set(ReadOnlySpan<EntryWrite> writes, ReadOnlySpan<int> sizes, long nowMs, Span<SetResult> results, ref RemovedBuffer removed)
    {
        long total = 0;
        foreach (var size in sizes)
        {
            total += size + WriteAheadLog.HeaderSize;
        }

        if (total > Array.MaxLength)
        {
            throw new ArgumentException($"The batch serializes to {total} bytes; split it. Nothing was written.", nameof(writes));
        }

        var buffer = ArrayPool<byte>.Shared.Rent((int)total);
        var prepared = ArrayPool<EntryMeta>.Shared.Rent(writes.Length);
        try
        {
            var offset = 0;
            for (var i = 0; i < writes.Length; i++)
            {
                prepared[i] = Prepare(buffer.AsSpan(offset, sizes[i] + WriteAheadLog.HeaderSize), writes[i], nowMs);
                offset += sizes[i] + WriteAheadLog.HeaderSize;
            }

            lock (Lock)
            {
                ThrowIfNotWritable();
                offset = 0;
                for (var i = 0; i < writes.Length; i++)
                {
                    results[i] = Append(buffer.AsSpan(offset, sizes[i] + WriteAheadLog.HeaderSize), prepared[i], ref removed);
                    offset += sizes[i] + WriteAheadLog.HeaderSize;
                }

                return Wal?.TailAddress ?? 0;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            ArrayPool<EntryMeta>.Shared.Return(prepared, clearArray: true);
        }
    }

    /// <summary>Assigns the id and times and serializes the record into <paramref name="op"/> (the LSN is written under the lock).</summary>
    private EntryMeta Prepare(Span<byte> op, in EntryWrite write, long nowMs)
    {
        var entry = write.Entry;
        var ttlMs = (long)Math.Min((write.Ttl ?? _options.DefaultTtl).TotalMilliseconds, _options.MaxTtl.TotalMilliseconds);
        var id = (ulong)Interlocked.Increment(ref _lastId);
        op[0] = WriteAheadLog.Set;
        EntryRecord.Write(op[WriteAheadLog.HeaderSize..], entry, write.Key, id, nowMs, nowMs + ttlMs);
        return new EntryMeta
        {
            Id = id,
            ExactHash = write.Key.Hash(),
            Partition = write.Key.Partition,
            NamespaceHash = EntryRecord.NamespaceHash(entry.Namespace),
            CreatedMs = nowMs,
            ExpiresMs = nowMs + ttlMs,
            TtlMs = ttlMs,
            LastHitMs = nowMs,
            Bytes = op.Length - WriteAheadLog.HeaderSize,
            VectorDimension = entry.Vector.Length,
        };
    }

    private SetResult Append(Span<byte> op, EntryMeta meta, ref RemovedBuffer removed)
    {
        BinaryPrimitives.WriteInt64LittleEndian(op[1..], ++_lastLsn);
        Wal?.Enqueue(op);
        _records.Upsert(meta.Id, op[WriteAheadLog.HeaderSize..]);
        var replaced = Directory.Add(meta);
        if (replaced is not null)
        {
            _records.Delete(replaced.Id);
            removed.Add(replaced.ToRemoved(RemovalReason.Replaced));
        }

        EvictIfNeeded(meta, ref removed);
        return new SetResult(meta.Id, meta.CreatedMs, meta.ExpiresMs, replaced?.Id);
    }

    /// <summary>Deletes one entry; false if none is live with that id. Returns the log address in <paramref name="walEnd"/>.</summary>
    public bool Delete(ulong id, ref RemovedBuffer removed, out long walEnd)
    {
        lock (Lock)
        {
            ThrowIfNotWritable();
            walEnd = 0;
            if (!Directory.TryGetById(id, out var meta))
            {
                return false;
            }

            Remove(meta, RemovalReason.Deleted, ref removed);
            walEnd = Wal?.TailAddress ?? 0;
            return true;
        }
    }

    /// <summary>Deletes every entry that matches; returns the log address.</summary>
    public long DeleteWhere(Func<EntryMeta, ulong, bool> match, ulong argument, ref RemovedBuffer removed)
    {
        lock (Lock)
        {
            ThrowIfNotWritable();
            for (var slot = Directory.Count - 1; slot >= 0; slot--)
            {
                var meta = Directory[slot];
                if (match(meta, argument))
                {
                    Remove(meta, RemovalReason.Deleted, ref removed);
                }
            }

            return Wal?.TailAddress ?? 0;
        }
    }

    /// <summary>
    /// Removes expired entries, at most one chunk (so that a mass expiry does not hold the write lock for long); returns
    /// true if there may be more. Nothing once closing.
    /// </summary>
    public bool SweepChunk(long nowMs, ref RemovedBuffer removed)
    {
        lock (Lock)
        {
            return !_closing && Sweep(nowMs, ref removed, SweepChunkSize);
        }
    }

    /// <summary>At open: drops what expired while the store was down and enforces limits that may have been lowered.</summary>
    public (int Expired, int Evicted) DropExpiredAndOverLimit(long nowMs, List<RemovedEntry> removedEntries)
    {
        RemovedBuffer expired = default;
        RemovedBuffer evicted = default;
        try
        {
            lock (Lock)
            {
                Sweep(nowMs, ref expired, int.MaxValue);
                EvictIfNeeded(new EntryMeta(), ref evicted);
            }

            expired.CopyTo(removedEntries);
            evicted.CopyTo(removedEntries);
            return (expired.Count, evicted.Count);
        }
        finally
        {
            expired.Dispose();
            evicted.Dispose();
        }
    }

    private void ThrowIfNotWritable()
    {
        ObjectDisposedException.ThrowIf(_closing, typeof(EntryStore));
        _health.ThrowIfUnavailable();
    }

    /// <summary>Removes expired entries, at most <paramref name="limit"/>; returns true if it stopped at the limit.</summary>
    private bool Sweep(long nowMs, ref RemovedBuffer removed, int limit)
    {
        // Backwards: removal moves the last slot into the hole, and that slot has been visited already.
        for (var slot = Directory.Count - 1; slot >= 0; slot--)
        {
            var meta = Directory[slot];
            if (Volatile.Read(ref meta.ExpiresMs) <= nowMs)
            {
                Remove(meta, RemovalReason.Expired, ref removed);
                if (removed.Count >= limit)
                {
                    return true;
                }
            }
        }

        return false;
    }

    private void Remove(EntryMeta meta, RemovalReason reason, ref RemovedBuffer removed)
    {
        var lsn = ++_lastLsn;
        if (Wal is not null)
        {
            Span<byte> op = stackalloc byte[WriteAheadLog.HeaderSize + 8];
            op[0] = WriteAheadLog.Delete;
            BinaryPrimitives.WriteInt64LittleEndian(op[1..], lsn);
            BinaryPrimitives.WriteUInt64LittleEndian(op[WriteAheadLog.HeaderSize..], meta.Id);
            Wal.Enqueue(op);
        }

        _records.Delete(meta.Id);
        Directory.Remove(meta);
        removed.Add(meta.ToRemoved(reason));
    }

    private void EvictIfNeeded(EntryMeta justAdded, ref RemovedBuffer removed)
    {
        var maxEntries = _options.MaxEntries;
        var maxBytes = _options.MaxBytes;
        while ((maxEntries > 0 && Directory.Count > maxEntries) || (maxBytes > 0 && Directory.Bytes > maxBytes))
        {
            var victim = _victims.Choose(Directory, justAdded);
            if (victim is null)
            {
                break;
            }

            Remove(victim, RemovalReason.Evicted, ref removed);
            Interlocked.Increment(ref _evictions);
        }
    }
}
