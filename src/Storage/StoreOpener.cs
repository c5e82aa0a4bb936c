using System.Diagnostics;
using FASTER.core;
using Microsoft.Extensions.Logging;

namespace SemCache.Storage;

/// <summary>What <see cref="StoreOpener.OpenAsync"/> hands to the store: its parts, ready, and what recovery found.</summary>
internal sealed record OpenedStore(RecordLog Records, EntryDirectory Directory, EntryWriter Writer, FasterLog? Wal, IDevice? WalDevice, RecoveryReport Report);

/// <summary>
/// Opening a data directory: creating a store, or recovering one — the newest usable checkpoint (older ones if the
/// newest is damaged), the write-ahead log replayed on it, expired and over-limit entries dropped, a checkpoint of the
/// result — and moving an unrecoverable directory aside when so configured. Disposing it closes what a failed open left
/// open; after a successful open everything belongs to the store.
/// </summary>
internal sealed class StoreOpener : IDisposable
{
    private readonly EntryStoreOptions _options;
    private readonly DataDirectoryLayout _layout;
    private readonly CheckpointKeeper _checkpoints;
    private readonly StoreHealthMonitor _health;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Func<string, IDevice> _createDevice;
    private RecordLog? _records;
    private EntryDirectory _directory = new();
    private EntryWriter? _writer;
    private FasterLog? _wal;
    private IDevice? _walDevice;
    private long _lastId;
    private long _lastLsn;
    private bool _handedOver;

    public StoreOpener(EntryStoreOptions options, DataDirectoryLayout layout, CheckpointKeeper checkpoints, StoreHealthMonitor health, TimeProvider time, ILogger logger, Func<string, IDevice> createDevice)
    {
        _options = options;
        _layout = layout;
        _checkpoints = checkpoints;
        _health = health;
        _time = time;
        _logger = logger;
        _createDevice = createDevice;
    }

    /// <summary>Closes what a failed open left open.</summary>
    public void Dispose()
    {
        if (_handedOver)
        {
            return;
        }

        _records?.Dispose();
        _records = null;
        _wal?.Dispose();
        _wal = null;
        _walDevice?.Dispose();
        _walDevice = null;
    }

    /// <summary>A checkpoint during open (no observer: the engine restores its index from the report instead).</summary>
    private async Task CheckpointAsync()
    {
        CapturedCheckpoint captured;
        lock (_writer!.Lock)
        {
            captured = _checkpoints.Capture(_writer.Directory, _records!, _writer.Wal, _writer.LastId, _writer.LastLsn);
        }

        await _checkpoints.CompleteAsync(captured, _records!, _writer.Wal).ConfigureAwait(false);
    }

    /// <summary>Opens the store: creates it, or recovers it (moving it aside first if so configured and it is unrecoverable).</summary>
    public async Task<OpenedStore> OpenAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var root = _layout.Root;
        var problems = new List<string>();
        _layout.Open();

        var unrecoverable = _layout.CheckFormat(problems);
        var manifests = CheckpointManifest.List(_layout.CheckpointDirectory);
        CheckpointManifest? recovered = null;
        var fellBack = false;
        var upgradedSnapshot = false;
        if (unrecoverable is null && manifests.Count == 0)
        {
            if (DataDirectoryLayout.HasData(_layout.KvDirectory) || DataDirectoryLayout.HasData(_layout.CheckpointDirectory))
            {
                unrecoverable = $"no checkpoint manifest in {_layout.CheckpointDirectory}, yet the directory holds store data";
            }
        }
        else if (unrecoverable is null)
        {
            foreach (var sequence in manifests)
            {
                cancellationToken.ThrowIfCancellationRequested();
                try
                {
                    var restored = await _checkpoints.RestoreAsync(sequence, () => new RecordLog(_options, _layout, _createDevice), rebuildDirectory: false, cancellationToken).ConfigureAwait(false);
                    _records = restored.Records;
                    _directory = restored.Directory;
                    _lastId = restored.LastId;
                    _lastLsn = restored.LastLsn;
                    upgradedSnapshot = restored.UpgradedSnapshot;
                    recovered = restored.Manifest;
                    break;
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not EntryStoreVersionException)
                {
                    // Any failure reading a damaged file (FASTER's metadata parsing can throw anything, even a
                    // NullReferenceException) makes this checkpoint unusable, not the open a crash.
                    problems.Add($"checkpoint {sequence}{_checkpoints.Describe(sequence)} is unusable: {OneLine(ex)}");
                    fellBack = true;
                }
            }

            // Last resort: no directory snapshot was usable, but a FASTER checkpoint may be; rebuild the directory from it.
            for (var i = 0; recovered is null && i < manifests.Count; i++)
            {
                try
                {
                    var restored = await _checkpoints.RestoreAsync(manifests[i], () => new RecordLog(_options, _layout, _createDevice), rebuildDirectory: true, cancellationToken).ConfigureAwait(false);
                    (_records, _directory, _lastId, _lastLsn, recovered) = (restored.Records, restored.Directory, restored.LastId, restored.LastLsn, restored.Manifest);
                    upgradedSnapshot = true; // the rebuilt directory must be checkpointed
                    problems.Add($"rebuilt the directory of checkpoint {manifests[i]} from the {_directory.Count} records of its hybrid log; hit recency and expiries extended by sliding expiration are lost");
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not EntryStoreVersionException)
                {
                    problems.Add($"checkpoint {manifests[i]} cannot be rebuilt from its records either: {OneLine(ex)}");
                }
            }

            if (recovered is null)
            {
                unrecoverable = "no checkpoint could be recovered";
            }
        }

        string? movedAside = null;
        if (unrecoverable is not null)
        {
            problems.Add(unrecoverable);
            var summary = string.Join("; ", problems);
            if (_options.OnUnrecoverableData == UnrecoverableDataPolicy.Fail)
            {
                throw new EntryStoreCorruptedException(
                    $"The entry store in {root} cannot be recovered: {summary}. Nothing was changed; restore a backup, or move the directory aside (OnUnrecoverableData = MoveAsideAndStartEmpty does this and starts empty).");
            }

            movedAside = _layout.MoveAside(_time.GetUtcNow());
            Log.MovedAside(_logger, root, movedAside, summary);
            recovered = null;
            fellBack = false;
        }

        if (recovered is null)
        {
            await CreateNewAsync(root).ConfigureAwait(false);
            return Opened(new RecoveryReport
            {
                CreatedNew = true,
                Problems = problems,
                MovedAsideTo = movedAside,
                CurrentCheckpointSequence = _checkpoints.Sequence,
                Duration = Stopwatch.GetElapsedTime(started),
            });
        }

        if (fellBack)
        {
            problems.Add($"recovered the older checkpoint {recovered.Sequence} ({recovered.EntryCount} entries, taken {DateTimeOffset.FromUnixTimeMilliseconds(recovered.CreatedUnixMs):u}); " +
                (_options.Durability == DurabilityMode.None && !Directory.Exists(_layout.WalDirectory)
                    ? "changes made after it are lost (durability None keeps no write-ahead log)"
                    : "the write-ahead log is replayed from it"));
        }

        // Replay the write-ahead log (present in Strict and Periodic; also replayed once if the store was switched to None).
        var added = new List<ulong>();
        var removedEntries = new List<RemovedEntry>();
        long replayed = 0;
        var replay = new WriteAheadLogReplay(_directory, _records!, _lastLsn, _lastId, added, removedEntries, problems);
        if (_options.Durability != DurabilityMode.None || DataDirectoryLayout.HasData(_layout.WalDirectory))
        {
            OpenWal();
            var from = recovered.WalAddress;
            if (from < _wal!.BeginAddress)
            {
                problems.Add($"the write-ahead log starts at {_wal.BeginAddress}, after the checkpoint's replay point {from}: changes in between are lost");
                from = _wal.BeginAddress;
            }

            replayed = replay.Run(_layout.WalBasePath, _options.PageSizeBytes, from, _wal.TailAddress);
            _lastLsn = replay.LastLsn;
            _lastId = replay.LastId;
        }

        _lastId = _layout.StartIdEpoch(_lastId);
        _writer = new EntryWriter(_options, _health, _records!, _directory, _wal, _lastId, _lastLsn);

        // Drop what expired while the store was down, and enforce limits that may have been lowered.
        var (expired, evicted) = _writer.DropExpiredAndOverLimit(_time.GetUtcNow().ToUnixTimeMilliseconds(), removedEntries);
        var changed = replayed > 0 || expired > 0 || evicted > 0 || fellBack || upgradedSnapshot;
        if (changed)
        {
            await CheckpointAsync().ConfigureAwait(false);
        }

        if (_wal is not null && (replay.SkippedRecords > 0 || replay.CommittedEnd > _wal.TailAddress))
        {
            // FASTER's own recovery stopped at the damage, so it would append over the committed records replayed past
            // it; the checkpoint just taken holds all of them, so start a fresh log.
            await ResetWalAsync().ConfigureAwait(false);
        }

        if (_options.Durability == DurabilityMode.None && _wal is not null)
        {
            // The store now runs without a log: everything it held is in the checkpoint just taken.
            _writer!.Wal = null;
            _wal.Dispose();
            _wal = null;
            _walDevice?.Dispose();
            _walDevice = null;
            Directory.Delete(_layout.WalDirectory, recursive: true);
        }

        foreach (var p in problems)
        {
            Log.RecoveryProblem(_logger, p);
        }

        var addedLive = added.Where(id => _directory.TryGetById(id, out _)).ToList();
        var elapsed = Stopwatch.GetElapsedTime(started);
        var report = new RecoveryReport
        {
            CheckpointSequence = recovered.Sequence,
            ReplayedOperations = replayed,
            AddedIds = addedLive,
            Removed = removedEntries,
            CurrentCheckpointSequence = _checkpoints.Sequence,
            EntryCount = _directory.Count,
            ExpiredOnRecovery = expired,
            Problems = problems,
            SkippedRecords = replay.SkippedRecords,
            TornTail = replay.TornTail,
            FellBackToOlderCheckpoint = fellBack,
            Duration = elapsed,
        };
        Log.Recovered(_logger, (long)elapsed.TotalMilliseconds, recovered.Sequence, recovered.EntryCount, replayed, expired, _directory.Count);
        return Opened(report);
    }

    private OpenedStore Opened(RecoveryReport report)
    {
        _handedOver = true;
        return new(_records!, _directory, _writer!, _wal, _walDevice, report);
    }

    private static string OneLine(Exception ex) =>
        ex is InvalidDataException or FasterException or IOException ? ex.Message : $"{ex.GetType().Name}: {ex.Message}";

    private async Task CreateNewAsync(string root)
    {
        _layout.WriteFormat();
        CreateKv();
        _directory = new EntryDirectory();
        _lastId = _layout.StartIdEpoch(_lastId);
        _writer = new EntryWriter(_options, _health, _records!, _directory, null, _lastId, 0);
        _checkpoints.Reset();
        if (_options.Durability != DurabilityMode.None)
        {
            OpenWal();
        }

        // An initial checkpoint, so that a directory with data always has a manifest.
        await CheckpointAsync().ConfigureAwait(false);
        Log.Created(_logger, root, _options.Durability);
    }

    private void CreateKv() => _records = new RecordLog(_options, _layout, _createDevice);

    private void OpenWal()
    {
        (_wal, _walDevice) = WriteAheadLog.Open(_options, _layout, _createDevice);
        if (_writer is not null)
        {
            _writer.Wal = _wal;
        }
    }

    /// <summary>
    /// Replaces the write-ahead log with an empty one, after a checkpoint that holds everything (at open, before any
    /// write). Then a checkpoint that points into the new log, and the older ones, which point into the old log, go.
    /// A crash in between recovers the first checkpoint and finds the new log empty.
    /// </summary>
    private async Task ResetWalAsync()
    {
        _writer!.Wal = null;
        _wal?.Dispose();
        _wal = null;
        _walDevice?.Dispose();
        _walDevice = null;
        Directory.Delete(_layout.WalDirectory, recursive: true);
        OpenWal();

        // Forget the older checkpoints first, so the new one does not trim the new log to their (old log's) addresses;
        // their files go only once the new checkpoint is complete.
        var older = _checkpoints.Forget();
        await CheckpointAsync().ConfigureAwait(false);
        _checkpoints.DeleteForgotten(older);
    }
}
