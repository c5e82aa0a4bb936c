using System.Buffers.Binary;
using System.IO.Hashing;
using System.Numerics;

namespace SemCache.Storage;

/// <summary>
/// Replays the write-ahead log onto a recovered checkpoint (directory and records), reading the log's files directly
/// (<see cref="WriteAheadLogReader"/>): a damaged record is skipped and the records after it are still replayed; each
/// skipped record goes into the problems with its address, size and the operations it held. Records after the last commit
/// record were never committed (a torn tail after a crash) and are not replayed. Last writer wins, idempotently: an
/// operation the checkpoint already holds (sequence number at or below its own) is skipped.
/// </summary>
internal sealed class WriteAheadLogReplay
{
    private readonly EntryDirectory _directory;
    private readonly RecordLog _records;
    private readonly List<ulong> _added;
    private readonly List<RemovedEntry> _removed;
    private readonly List<string> _problems;
    private WalItem? _unresolved; // damage seen, not yet followed by an applied operation

    /// <param name="directory">The recovered directory; replay applies to it.</param>
    /// <param name="records">The recovered records; replay applies to them.</param>
    /// <param name="lastLsn">Sequence number of the last operation the checkpoint holds.</param>
    /// <param name="lastId">Highest id handed out before the checkpoint.</param>
    /// <param name="added">Receives the ids the replayed Sets added.</param>
    /// <param name="removed">Receives the entries the replayed operations removed.</param>
    /// <param name="problems">Receives one line per damage found.</param>
    public WriteAheadLogReplay(EntryDirectory directory, RecordLog records, long lastLsn, long lastId, List<ulong> added, List<RemovedEntry> removed, List<string> problems)
    {
        _directory = directory;
        _records = records;
        LastLsn = lastLsn;
        LastId = lastId;
        _added = added;
        _removed = removed;
        _problems = problems;
    }

    public long LastLsn { get; private set; }

    public long LastId { get; private set; }

    /// <summary>Damaged records (or runs of missing operations) skipped.</summary>
    public long SkippedRecords { get; private set; }

    /// <summary>The uncommitted end of the log, described, or null.</summary>
    public string? TornTail { get; private set; }

    /// <summary>The address just after the last intact commit record.</summary>
    public long CommittedEnd { get; private set; }

    /// <summary>
    /// Replays the committed part of the log from <paramref name="fromAddress"/>; returns the operations applied.
    /// <paramref name="committedByFaster"/> is where FASTER's own recovery found the last commit (it stops at damage, so the
    /// log may be committed further): records before it are applied as they are read.
    /// </summary>
    public long Run(string walBasePath, int pageSizeBytes, long fromAddress, long committedByFaster)
    {
        var pageBits = BitOperations.Log2((uint)pageSizeBytes);
        using var reader = new WriteAheadLogReader(walBasePath, pageBits, WriteAheadLog.SegmentBits(pageBits), fromAddress, IsIntactOperation);

        // Operations are applied once a commit record after them shows they were committed; until then they wait here.
        var pending = new List<(WalItem Item, byte[]? Op)>();
        long replayed = 0;
        long uncommittedFrom = fromAddress;
        var started = false; // an operation newer than the checkpoint has been seen
        var stale = false;
        CommittedEnd = fromAddress;
        while (!stale)
        {
            var item = reader.Next();
            if (item.Kind == WalItemKind.End)
            {
                break;
            }

            if (item.Kind == WalItemKind.Commit)
            {
                replayed += ApplyPending(pending, ref started, ref stale);
                pending.Clear();
                uncommittedFrom = item.Address + item.Bytes;
                CommittedEnd = uncommittedFrom;
                continue;
            }

            if (item.Kind == WalItemKind.Record && pending.Count == 0 && item.Address + item.Bytes <= committedByFaster)
            {
                // Before the commit point FASTER recovered: committed, so applied in place (no copy, no wait for the
                // commit record).
                replayed += ApplyItem(item, item.Payload.Span, ref started, ref stale);
                continue;
            }

            pending.Add((item, item.Kind == WalItemKind.Record ? item.Payload.ToArray() : null));
        }

        if (_unresolved is { } tail)
        {
            SkippedRecords++;
            _problems.Add($"the write-ahead log is damaged at address {tail.Address} ({tail.Problem}), and committed: the operation(s) after sequence number {LastLsn} that it held are lost");
        }

        if (pending.Count > 0)
        {
            var records = pending.Count(p => p.Item.Kind == WalItemKind.Record);
            var last = pending[^1].Item;
            var bytes = last.Address + Math.Max(last.Bytes, 0) - uncommittedFrom;
            TornTail = $"{bytes} bytes after the last commit (address {uncommittedFrom}) were never committed and are not replayed: {records} complete operation records{(pending.Count > records ? " and an incomplete one" : "")}";
        }

        return replayed;
    }

    /// <summary>A strong check of a write-ahead-log payload, to resynchronise on an intact record after damage.</summary>
    private static bool IsIntactOperation(ReadOnlySpan<byte> op)
    {
        if (op.Length < WriteAheadLog.HeaderSize)
        {
            return false;
        }

        return op[0] switch
        {
            WriteAheadLog.Set => EntryRecord.TryReadHeader(op[WriteAheadLog.HeaderSize..], out _, out _),
            WriteAheadLog.Delete => op.Length == WriteAheadLog.HeaderSize + 8,
            WriteAheadLog.Probe => op.Length == WriteAheadLog.HeaderSize,
            _ => false,
        };
    }

    private long ApplyPending(List<(WalItem Item, byte[]? Op)> pending, ref bool started, ref bool stale)
    {
        long replayed = 0;
        foreach (var (item, op) in pending)
        {
            if (stale)
            {
                break;
            }

            if (op is null)
            {
                _unresolved ??= item;
                continue;
            }

            replayed += ApplyItem(item, op, ref started, ref stale);
        }

        return replayed;
    }

    /// <summary>Applies one intact record; reports the damage (or missing operations) it resolves. Returns 1 if applied.</summary>
    private int ApplyItem(in WalItem item, ReadOnlySpan<byte> op, ref bool started, ref bool stale)
    {
        if (op.Length >= WriteAheadLog.HeaderSize && op[0] == WriteAheadLog.Probe)
        {
            return 0;
        }

        var lsnBefore = LastLsn;
        var outcome = ApplyLogged(op, out var problem);
        switch (outcome)
        {
            case ReplayOutcome.Applied:
                var lost = lsnBefore < 0 ? 0 : LastLsn - lsnBefore - 1; // -1: a rebuilt directory, no known sequence number
                if (_unresolved is { } d)
                {
                    SkippedRecords++;
                    _problems.Add($"the write-ahead log is damaged at address {d.Address} ({d.Problem}); skipped it and replayed on: " +
                        (lost > 0 ? $"operations {lsnBefore + 1} to {LastLsn - 1} it held are lost" : "it held no operation"));
                    _unresolved = null;
                }
                else if (lost > 0)
                {
                    SkippedRecords++;
                    _problems.Add($"the write-ahead log has no record of operations {lsnBefore + 1} to {LastLsn - 1} (before address {item.Address}); they are lost, later ones were replayed");
                }

                started = true;
                return 1;
            case ReplayOutcome.AlreadyApplied when started:
                // An older operation after newer ones: bytes left behind past the log's end by an earlier run.
                stale = true;
                _unresolved = null;
                return 0;
            case ReplayOutcome.AlreadyApplied:
                return 0;
            default:
                _unresolved ??= item with { Problem = $"{item.Bytes} bytes at address {item.Address}: {problem}" };
                return 0;
        }
    }

    private enum ReplayOutcome
    {
        Applied,
        AlreadyApplied,
        Damaged,
    }

    private ReplayOutcome ApplyLogged(ReadOnlySpan<byte> op, out string? problem)
    {
        problem = null;
        if (op.Length < WriteAheadLog.HeaderSize)
        {
            problem = $"a {op.Length}-byte operation is shorter than its header";
            return ReplayOutcome.Damaged;
        }

        var lsn = BinaryPrimitives.ReadInt64LittleEndian(op[1..]);
        if (lsn <= LastLsn)
        {
            return ReplayOutcome.AlreadyApplied;
        }

        if (op.Length == WriteAheadLog.HeaderSize + 8 && op[0] == WriteAheadLog.Delete)
        {
            var id = BinaryPrimitives.ReadUInt64LittleEndian(op[WriteAheadLog.HeaderSize..]);
            if (_directory.TryGetById(id, out var meta))
            {
                _records.Delete(id);
                _directory.Remove(meta);
                _removed.Add(meta.ToRemoved(RemovalReason.Deleted));
            }

            LastLsn = lsn;
            return ReplayOutcome.Applied;
        }

        if (op[0] != WriteAheadLog.Set)
        {
            problem = $"unknown operation {op[0]}";
            return ReplayOutcome.Damaged;
        }

        var record = op[WriteAheadLog.HeaderSize..];
        if (!EntryRecord.TryReadHeader(record, out var header, out problem))
        {
            return ReplayOutcome.Damaged;
        }

        var meta2 = EntryRecord.ToMeta(record, header);
        if (_directory.TryGetById(header.Id, out var existing))
        {
            // Already in the checkpoint (it captured this Set): replace the metadata but keep hit recency.
            meta2.LastHitMs = existing.LastHitMs;
            _directory.Remove(existing);
        }

        _records.Upsert(meta2.Id, record);
        var replaced = _directory.Add(meta2);
        if (replaced is not null)
        {
            _records.Delete(replaced.Id);
            _removed.Add(replaced.ToRemoved(RemovalReason.Replaced));
        }

        _added.Add(header.Id);
        if ((long)header.Id > LastId)
        {
            LastId = (long)header.Id;
        }

        LastLsn = lsn;
        return ReplayOutcome.Applied;
    }
}
