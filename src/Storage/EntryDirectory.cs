using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Hashing;

namespace SemCache.Storage;

/// <summary>Per-entry metadata held in memory: what TTL, eviction, exact lookups and partition deletes need without disk I/O.</summary>
internal sealed class EntryMeta
{
    public ulong Id;
    public UInt128 ExactHash;
    public ulong Partition;
    public ulong NamespaceHash;
    public long CreatedMs;
    public long ExpiresMs;   // read and written with Volatile: sliding expiration updates it from readers
    public long TtlMs;
    public long LastHitMs;   // read and written with Volatile: hits update it without the write lock
    public int Bytes;
    public int VectorDimension; // entry.Vector.Length at write time; for EnumerateLiveIds and RemovedEntry
    public int Slot;         // position in EntryDirectory's slot list, for O(1) random sampling and removal

    public RemovedEntry ToRemoved(RemovalReason reason) => new(Id, Partition, reason, NamespaceHash, VectorDimension);
}

/// <summary>
/// The in-memory directory of live entries: exact-key hash → entry and id → entry, plus a dense slot list for sampled
/// eviction and sweeps.
/// </summary>
/// <remarks>
/// Why a directory beside FASTER rather than exact-key records inside it: every Set must know synchronously whether it
/// replaces an entry, and eviction, TTL sweeps and partition deletes must visit entries by age or partition. Doing that
/// through FASTER would mean disk reads under the write lock for spilled records and full log scans for sweeps. The
/// directory costs ~200 bytes per entry of managed memory (measured in the benchmark), is persisted with every
/// checkpoint, and the write-ahead log brings it forward exactly like the records. FASTER stays the single home of the
/// entries themselves (id → record), with its memory budget bounding the bulk of the data.
/// Mutations happen under the store's write lock; lookups are lock-free (concurrent dictionaries).
/// </remarks>
internal sealed class EntryDirectory
{
    private readonly ConcurrentDictionary<UInt128, EntryMeta> _byExactKey;
    private readonly ConcurrentDictionary<ulong, EntryMeta> _byId;
    private readonly List<EntryMeta> _slots;
    private readonly ConcurrentDictionary<ulong, long> _countByNamespace = new();
    private long _bytes;

    public EntryDirectory(int capacity = 0)
    {
        _byExactKey = new ConcurrentDictionary<UInt128, EntryMeta>(Environment.ProcessorCount, Math.Max(capacity, 31));
        _byId = new ConcurrentDictionary<ulong, EntryMeta>(Environment.ProcessorCount, Math.Max(capacity, 31));
        _slots = new List<EntryMeta>(capacity);
    }

    public int Count => _slots.Count;

    public long Bytes => Volatile.Read(ref _bytes);

    /// <summary>Live entries of one namespace hash: O(1), no lock (the count is updated under the write lock).</summary>
    public long CountInNamespace(ulong namespaceHash) => _countByNamespace.TryGetValue(namespaceHash, out var count) ? count : 0;

    /// <summary>Namespace hashes with at least one live entry (a count reaching zero removes its hash).</summary>
    public int NamespaceCount => _countByNamespace.Count;

    /// <summary>Copies the slot list (write lock held): one reference per entry, so the caller can read them outside the lock.</summary>
    public void CopySlots(EntryMeta[] destination) => _slots.CopyTo(destination);

    public bool TryGetByExactKey(UInt128 hash, out EntryMeta meta) => _byExactKey.TryGetValue(hash, out meta!);

    public bool TryGetById(ulong id, out EntryMeta meta) => _byId.TryGetValue(id, out meta!);

    /// <summary>Slot access for sampling and sweeps (write lock held).</summary>
    public EntryMeta this[int slot] => _slots[slot];

    /// <summary>Adds an entry; returns the entry it replaced (same exact key), already removed, or null. Write lock held.</summary>
    public EntryMeta? Add(EntryMeta meta)
    {
        EntryMeta? replaced = null;
        if (_byExactKey.TryGetValue(meta.ExactHash, out var existing))
        {
            Remove(existing);
            replaced = existing;
        }

        meta.Slot = _slots.Count;
        _slots.Add(meta);
        _byExactKey[meta.ExactHash] = meta;
        _byId[meta.Id] = meta;
        _bytes += meta.Bytes;
        _countByNamespace.AddOrUpdate(meta.NamespaceHash, 1, static (_, count) => count + 1);
        return replaced;
    }

    /// <summary>Removes an entry (write lock held).</summary>
    public void Remove(EntryMeta meta)
    {
        if (!_byId.TryRemove(new KeyValuePair<ulong, EntryMeta>(meta.Id, meta)))
        {
            return;
        }

        _byExactKey.TryRemove(new KeyValuePair<UInt128, EntryMeta>(meta.ExactHash, meta));
        var last = _slots[^1];
        _slots[meta.Slot] = last;
        last.Slot = meta.Slot;
        _slots.RemoveAt(_slots.Count - 1);
        _bytes -= meta.Bytes;
        var left = _countByNamespace.AddOrUpdate(meta.NamespaceHash, 0, static (_, count) => count - 1);
        if (left <= 0)
        {
            // No state that only grows: a namespace whose last entry left has no counter.
            _countByNamespace.TryRemove(new KeyValuePair<ulong, long>(meta.NamespaceHash, left));
        }
    }

    // ---- persistence -------------------------------------------------------------------------------------------

    private const ulong SnapshotMagicV1 = 0x3152_4944_4353_4553; // "SESCDIR1": no vector dimension (the field was 0)
    private const ulong SnapshotMagic = 0x3252_4944_4353_4553; // "SESCDIR2": vector dimension at offset 76 of each record
    private const int SnapshotHeaderSize = 48;
    private const int SnapshotRecordSize = 80;

    /// <summary>Serialises the directory (write lock held, so the copy is consistent with the write-ahead-log address).</summary>
    public byte[] Snapshot(long sequence, ulong nextId, long walAddress, long lastLsn)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(SnapshotHeaderSize + (_slots.Count * SnapshotRecordSize) + 8);
        var span = buffer.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(span, SnapshotMagic);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], sequence);
        BinaryPrimitives.WriteUInt64LittleEndian(span[16..], nextId);
        BinaryPrimitives.WriteInt64LittleEndian(span[24..], walAddress);
        BinaryPrimitives.WriteInt64LittleEndian(span[32..], _slots.Count);
        BinaryPrimitives.WriteInt64LittleEndian(span[40..], lastLsn);
        var offset = SnapshotHeaderSize;
        foreach (var meta in _slots)
        {
            var r = span.Slice(offset, SnapshotRecordSize);
            BinaryPrimitives.WriteUInt64LittleEndian(r, meta.Id);
            BinaryPrimitives.WriteUInt128LittleEndian(r[8..], meta.ExactHash);
            BinaryPrimitives.WriteUInt64LittleEndian(r[24..], meta.Partition);
            BinaryPrimitives.WriteUInt64LittleEndian(r[32..], meta.NamespaceHash);
            BinaryPrimitives.WriteInt64LittleEndian(r[40..], meta.CreatedMs);
            BinaryPrimitives.WriteInt64LittleEndian(r[48..], Volatile.Read(ref meta.ExpiresMs));
            BinaryPrimitives.WriteInt64LittleEndian(r[56..], meta.TtlMs);
            BinaryPrimitives.WriteInt64LittleEndian(r[64..], Volatile.Read(ref meta.LastHitMs));
            BinaryPrimitives.WriteInt32LittleEndian(r[72..], meta.Bytes);
            BinaryPrimitives.WriteInt32LittleEndian(r[76..], meta.VectorDimension);
            offset += SnapshotRecordSize;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(span[offset..], XxHash3.HashToUInt64(span[..offset]));
        return buffer;
    }

    /// <summary>
    /// Loads a snapshot written by <see cref="Snapshot"/>; throws <see cref="InvalidDataException"/> naming the damage.
    /// <paramref name="hasDimensions"/> is false for a snapshot of the first format, whose entries' vector dimensions the
    /// caller must read from the records.
    /// </summary>
    public static EntryDirectory Load(ReadOnlySpan<byte> data, long expectedSequence, out ulong nextId, out long walAddress, out long lastLsn, out bool hasDimensions)
    {
        if (data.Length < SnapshotHeaderSize + 8)
        {
            throw new InvalidDataException($"directory snapshot is {data.Length} bytes, shorter than its header");
        }

        var magic = BinaryPrimitives.ReadUInt64LittleEndian(data);
        hasDimensions = magic == SnapshotMagic;
        if (magic != SnapshotMagic && magic != SnapshotMagicV1)
        {
            throw new InvalidDataException("directory snapshot magic is wrong (not a SemCache directory snapshot, or another format version)");
        }

        var stored = BinaryPrimitives.ReadUInt64LittleEndian(data[^8..]);
        if (XxHash3.HashToUInt64(data[..^8]) != stored)
        {
            throw new InvalidDataException("directory snapshot checksum mismatch");
        }

        var sequence = BinaryPrimitives.ReadInt64LittleEndian(data[8..]);
        if (sequence != expectedSequence)
        {
            throw new InvalidDataException($"directory snapshot belongs to checkpoint {sequence}, not {expectedSequence}");
        }

        nextId = BinaryPrimitives.ReadUInt64LittleEndian(data[16..]);
        walAddress = BinaryPrimitives.ReadInt64LittleEndian(data[24..]);
        lastLsn = BinaryPrimitives.ReadInt64LittleEndian(data[40..]);
        var count = BinaryPrimitives.ReadInt64LittleEndian(data[32..]);
        if (count < 0 || SnapshotHeaderSize + (count * SnapshotRecordSize) + 8 != data.Length)
        {
            throw new InvalidDataException($"directory snapshot says {count} entries but holds {data.Length} bytes");
        }

        var directory = new EntryDirectory((int)count);
        var offset = SnapshotHeaderSize;
        for (long i = 0; i < count; i++)
        {
            var r = data.Slice(offset, SnapshotRecordSize);
            directory.Add(new EntryMeta
            {
                Id = BinaryPrimitives.ReadUInt64LittleEndian(r),
                ExactHash = BinaryPrimitives.ReadUInt128LittleEndian(r[8..]),
                Partition = BinaryPrimitives.ReadUInt64LittleEndian(r[24..]),
                NamespaceHash = BinaryPrimitives.ReadUInt64LittleEndian(r[32..]),
                CreatedMs = BinaryPrimitives.ReadInt64LittleEndian(r[40..]),
                ExpiresMs = BinaryPrimitives.ReadInt64LittleEndian(r[48..]),
                TtlMs = BinaryPrimitives.ReadInt64LittleEndian(r[56..]),
                LastHitMs = BinaryPrimitives.ReadInt64LittleEndian(r[64..]),
                Bytes = BinaryPrimitives.ReadInt32LittleEndian(r[72..]),
                VectorDimension = hasDimensions ? BinaryPrimitives.ReadInt32LittleEndian(r[76..]) : 0,
            });
            offset += SnapshotRecordSize;
        }

        return directory;
    }
}
