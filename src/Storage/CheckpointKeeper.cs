using System.Buffers.Binary;
using System.Diagnostics;
using FASTER.core;
using Microsoft.Extensions.Logging;

namespace SemCache.Storage;

/// <summary>A checkpoint captured under the store's write lock, to be completed outside it.</summary>
internal readonly record struct CapturedCheckpoint(long Sequence, Guid Token, byte[] Snapshot, long WalAddress, long KvTail, long Entries, long StartedTimestamp);

/// <summary>A checkpoint restored at open: its manifest, the directory it held and the counters to continue from.</summary>
/// <remarks><see cref="LastLsn"/> is -1 when the directory was rebuilt from the records (the snapshot, which holds it, was unusable).</remarks>
internal sealed record RestoredCheckpoint(CheckpointManifest Manifest, RecordLog Records, EntryDirectory Directory, long LastId, long LastLsn, bool UpgradedSnapshot);

/// <summary>
/// Checkpoints and their retention: a FASTER fold-over checkpoint of the records, the directory snapshot and the manifest
/// that names both (written last, durably); the newest two are kept, and the write-ahead log is trimmed to what the older
/// one still needs. At open, restores a checkpoint and checks it against the files it needs.
/// </summary>
internal sealed class CheckpointKeeper
{
    private const int Retained = 2;
    private readonly DataDirectoryLayout _layout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly List<CheckpointManifest> _retained = [];
    private long _sequence;
    private long _count;

    public CheckpointKeeper(DataDirectoryLayout layout, TimeProvider time, ILogger logger)
    {
        _layout = layout;
        _time = time;
        _logger = logger;
    }

    /// <summary>Sequence of the newest completed checkpoint.</summary>
    public long Sequence => Interlocked.Read(ref _sequence);

    /// <summary>Checkpoints completed since open.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>
    /// Starts a checkpoint. Call under the store's write lock: every change before the log's tail has then been applied to
    /// FASTER, so the FASTER checkpoint initiated here holds all of them (maybe later ones too, which replay re-applies
    /// idempotently), and the snapshot matches the log address exactly.
    /// </summary>
    public CapturedCheckpoint Capture(EntryDirectory directory, RecordLog records, FasterLog? wal, long lastId, long lastLsn)
    {
        var started = Stopwatch.GetTimestamp();
        var sequence = Sequence + 1;
        var walAddress = wal?.TailAddress ?? 0;
        var kvTail = records.TailAddress;
        var snapshot = directory.Snapshot(sequence, (ulong)lastId, walAddress, lastLsn);
        var token = records.BeginCheckpoint();
        return new CapturedCheckpoint(sequence, token, snapshot, walAddress, kvTail, directory.Count, started);
    }

    /// <summary>Waits for FASTER, writes snapshot and manifest, drops the oldest checkpoint and trims the log.</summary>
    public async Task<CheckpointInfo> CompleteAsync(CapturedCheckpoint captured, RecordLog records, FasterLog? wal)
    {
        await records.CompleteCheckpointAsync().ConfigureAwait(false);
        Directory.CreateDirectory(_layout.CheckpointDirectory);
        CheckpointManifest.WriteDurably(Path.Combine(_layout.CheckpointDirectory, CheckpointManifest.DirectoryFileName(captured.Sequence)), captured.Snapshot);
        var manifest = new CheckpointManifest(
            CheckpointManifest.CurrentFormatVersion, captured.Sequence, captured.Token, captured.WalAddress, records.BeginAddress, captured.KvTail, captured.Entries, _time.GetUtcNow().ToUnixTimeMilliseconds());
        CheckpointManifest.WriteDurably(Path.Combine(_layout.CheckpointDirectory, CheckpointManifest.FileName(captured.Sequence)), manifest.Serialize());
        Interlocked.Exchange(ref _sequence, captured.Sequence);
        Interlocked.Increment(ref _count);

        _retained.Add(manifest);
        while (_retained.Count > Retained)
        {
            DeleteFiles(_retained[0]);
            _retained.RemoveAt(0);
        }

        // Keep the log from the older retained checkpoint on, so recovery can fall back to it and still replay everything.
        if (wal is not null && _retained[0].WalAddress > wal.BeginAddress)
        {
            wal.TruncateUntil(_retained[0].WalAddress);
        }

        var elapsed = Stopwatch.GetElapsedTime(captured.StartedTimestamp);
        Log.CheckpointTaken(_logger, captured.Sequence, captured.Entries, (long)elapsed.TotalMilliseconds);
        return new CheckpointInfo(captured.Sequence, captured.Entries, elapsed);
    }

    /// <summary>
    /// Forgets the retained checkpoints (their files stay until <see cref="DeleteForgotten"/>): before the first
    /// checkpoint into a fresh write-ahead log, which must not trim the new log to the old log's addresses.
    /// </summary>
    public List<CheckpointManifest> Forget()
    {
        var older = _retained.ToList();
        _retained.Clear();
        return older;
    }

    public void DeleteForgotten(List<CheckpointManifest> forgotten)
    {
        foreach (var manifest in forgotten)
        {
            DeleteFiles(manifest);
        }
    }

    /// <summary>A new store starts at sequence 0.</summary>
    public void Reset()
    {
        _retained.Clear();
        Interlocked.Exchange(ref _sequence, 0);
    }

    /// <summary>
    /// Restores checkpoint <paramref name="sequence"/>: manifest, hybrid-log segments, directory snapshot and FASTER
    /// checkpoint, then a sample of the records. With <paramref name="rebuildDirectory"/>, the snapshot is not read and the
    /// directory is rebuilt from the records instead (the last resort when no snapshot is usable). Throws (any exception)
    /// when it is unusable; the records it created are disposed then.
    /// </summary>
    public async Task<RestoredCheckpoint> RestoreAsync(long sequence, Func<RecordLog> createRecords, bool rebuildDirectory, CancellationToken cancellationToken)
    {
        var manifestPath = Path.Combine(_layout.CheckpointDirectory, CheckpointManifest.FileName(sequence));
        var manifest = CheckpointManifest.Parse(await File.ReadAllBytesAsync(manifestPath, cancellationToken).ConfigureAwait(false), manifestPath);
        if (manifest.Sequence != sequence)
        {
            throw new InvalidDataException($"manifest {manifestPath} names checkpoint {manifest.Sequence}");
        }

        _layout.ValidateHybridLogSegments(manifest);
        var directoryPath = Path.Combine(_layout.CheckpointDirectory, CheckpointManifest.DirectoryFileName(sequence));
        EntryDirectory directory;
        ulong lastId = 0;
        long lastLsn = -1;
        var hasDimensions = true;
        if (rebuildDirectory)
        {
            directory = new EntryDirectory();
        }
        else
        {
            if (!File.Exists(directoryPath))
            {
                throw new InvalidDataException($"directory snapshot {directoryPath} is missing");
            }

            try
            {
                directory = EntryDirectory.Load(await File.ReadAllBytesAsync(directoryPath, cancellationToken).ConfigureAwait(false), sequence, out lastId, out _, out lastLsn, out hasDimensions);
            }
            catch (InvalidDataException ex)
            {
                throw new InvalidDataException($"{directoryPath}: {ex.Message}", ex);
            }

            if (directory.Count != manifest.EntryCount)
            {
                throw new InvalidDataException($"directory snapshot {directoryPath} holds {directory.Count} entries, the manifest says {manifest.EntryCount}");
            }
        }

        var guid = manifest.FasterToken.ToString("D");
        if (!Directory.Exists(Path.Combine(_layout.KvCheckpointDirectory, "index-checkpoints", guid)) || !Directory.Exists(Path.Combine(_layout.KvCheckpointDirectory, "cpr-checkpoints", guid)))
        {
            throw new InvalidDataException($"FASTER checkpoint {guid} is missing from {_layout.KvCheckpointDirectory}");
        }

        var records = createRecords();
        try
        {
            await records.RecoverAsync(manifest.FasterToken, cancellationToken).ConfigureAwait(false);
            if (rebuildDirectory)
            {
                lastId = RebuildDirectory(records, directory);
            }

            VerifySample(records, directory, sequence);
            if (!hasDimensions)
            {
                FillVectorDimensions(records, directory);
            }
        }
        catch
        {
            records.Dispose();
            throw;
        }

        Interlocked.Exchange(ref _sequence, sequence);
        _retained.Clear();
        foreach (var older in CheckpointManifest.List(_layout.CheckpointDirectory).Where(s => s < sequence).Take(1))
        {
            try
            {
                var olderPath = Path.Combine(_layout.CheckpointDirectory, CheckpointManifest.FileName(older));
                _retained.Add(CheckpointManifest.Parse(File.ReadAllBytes(olderPath), olderPath));
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException or KeyNotFoundException or FormatException)
            {
            }
        }

        _retained.Add(manifest);
        return new RestoredCheckpoint(manifest, records, directory, (long)lastId, lastLsn, !hasDimensions);
    }

    /// <summary>
    /// Rebuilds the directory from the records, in log order (a tombstone removes its id). What only the snapshot held
    /// is lost: hit recency and expiries extended by sliding expiration. Returns the highest id seen.
    /// </summary>
    private static ulong RebuildDirectory(RecordLog records, EntryDirectory directory)
    {
        ulong lastId = 0;
        using var iterator = records.Scan();
        while (iterator.GetNext(out var recordInfo))
        {
            ref var key = ref iterator.GetKey();
            if (key.Length != 8)
            {
                continue;
            }

            var id = BinaryPrimitives.ReadUInt64LittleEndian(key.AsReadOnlySpan());
            lastId = Math.Max(lastId, id);
            if (directory.TryGetById(id, out var existing))
            {
                directory.Remove(existing);
            }

            if (recordInfo.Tombstone)
            {
                continue;
            }

            var record = iterator.GetValue().AsReadOnlySpan();
            if (EntryRecord.TryReadHeader(record, out var header, out _) && header.Id == id)
            {
                directory.Add(EntryRecord.ToMeta(record, header));
            }
        }

        return lastId;
    }

    /// <summary>" (N entries, taken T)" for a readable manifest, "" otherwise: for problem lines.</summary>
    public string Describe(long sequence)
    {
        try
        {
            var path = Path.Combine(_layout.CheckpointDirectory, CheckpointManifest.FileName(sequence));
            var manifest = CheckpointManifest.Parse(File.ReadAllBytes(path), path);
            return $" ({manifest.EntryCount} entries, taken {DateTimeOffset.FromUnixTimeMilliseconds(manifest.CreatedUnixMs):u})";
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or KeyNotFoundException or FormatException or EntryStoreVersionException)
        {
            return "";
        }
    }

    /// <summary>
    /// A directory snapshot of the first format has no vector dimensions: read them from the records, by one sequential
    /// scan of the hybrid log (once: the post-recovery checkpoint writes the current format).
    /// </summary>
    private static void FillVectorDimensions(RecordLog records, EntryDirectory directory)
    {
        using var iterator = records.Scan();
        while (iterator.GetNext(out var recordInfo))
        {
            ref var key = ref iterator.GetKey();
            if (recordInfo.Tombstone || key.Length != 8)
            {
                continue;
            }

            var id = BinaryPrimitives.ReadUInt64LittleEndian(key.AsReadOnlySpan());
            if (directory.TryGetById(id, out var meta) && EntryRecord.TryReadHeader(iterator.GetValue().AsReadOnlySpan(), out var header, out _) && header.Id == id)
            {
                meta.VectorDimension = header.VectorDimension;
            }
        }
    }

    /// <summary>Reads a sample of the recovered entries (all when few) and checks they are intact.</summary>
    private static void VerifySample(RecordLog records, EntryDirectory directory, long sequence)
    {
        var count = directory.Count;
        var toCheck = Math.Min(count, 256);
        var random = new Random(42);
        for (var i = 0; i < toCheck; i++)
        {
            var meta = directory[count <= 256 ? i : random.Next(count)];
            var (found, output) = records.ReadDuringRecovery(meta.Id);
            try
            {
                if (!found)
                {
                    throw new InvalidDataException($"entry {meta.Id} listed in checkpoint {sequence} is missing from the hybrid log");
                }

                var record = RecordLog.Bytes(output);
                if (!EntryRecord.TryReadHeader(record, out var header, out var problem) || header.Id != meta.Id)
                {
                    throw new InvalidDataException($"entry {meta.Id} of checkpoint {sequence} is damaged in the hybrid log: {problem ?? "id mismatch"}");
                }
            }
            finally
            {
                output.Memory?.Dispose();
            }
        }
    }

    private void DeleteFiles(CheckpointManifest manifest)
    {
        TryDelete(Path.Combine(_layout.CheckpointDirectory, CheckpointManifest.FileName(manifest.Sequence)));
        TryDelete(Path.Combine(_layout.CheckpointDirectory, CheckpointManifest.DirectoryFileName(manifest.Sequence)));
        var guid = manifest.FasterToken.ToString("D");
        TryDeleteDirectory(Path.Combine(_layout.KvCheckpointDirectory, "index-checkpoints", guid));
        TryDeleteDirectory(Path.Combine(_layout.KvCheckpointDirectory, "cpr-checkpoints", guid));

        static void TryDelete(string path)
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
            }
        }

        static void TryDeleteDirectory(string path)
        {
            try
            {
                if (Directory.Exists(path))
                {
                    Directory.Delete(path, recursive: true);
                }
            }
            catch (IOException)
            {
            }
        }
    }
}
