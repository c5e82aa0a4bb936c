using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using FASTER.core;
using FasterSession = FASTER.core.ClientSession<FASTER.core.SpanByte, FASTER.core.SpanByte, FASTER.core.SpanByte, FASTER.core.SpanByteAndMemory, FASTER.core.Empty, FASTER.core.SpanByteFunctions<FASTER.core.Empty>>;

namespace SemCache.Storage;

/// <summary>
/// The entries' records in a FASTER KV hybrid log (id → record bytes): upserts and deletes through one writer session
/// (the store's write lock serialises them), reads through a pool of reader sessions, scans, compaction, and FASTER's
/// checkpoint and recovery calls.
/// </summary>
internal sealed class RecordLog : IDisposable
{
    private readonly SpanByteFunctions<Empty> _functions = new();
    private readonly ConcurrentQueue<FasterSession> _readers = new();
    private readonly FasterKV<SpanByte, SpanByte> _kv;
    private readonly IDevice _device;
    private readonly FasterSession _writer;

    public RecordLog(EntryStoreOptions options, DataDirectoryLayout layout, Func<string, IDevice> createDevice)
    {
        Directory.CreateDirectory(layout.KvDirectory);
        Directory.CreateDirectory(layout.KvCheckpointDirectory);
        _device = createDevice(layout.KvBasePath);
        _kv = new FasterKV<SpanByte, SpanByte>(new FasterKVSettings<SpanByte, SpanByte>
        {
            IndexSize = options.HashIndexSizeBytes,
            LogDevice = _device,
            PageSize = options.PageSizeBytes,
            MemorySize = options.MemoryLogSizeBytes,
            SegmentSize = 1L << DataDirectoryLayout.KvSegmentSizeBits,
            CheckpointDir = layout.KvCheckpointDirectory,
            // Retention is ours: a FASTER checkpoint is only outdated once our manifest points at a newer one.
            RemoveOutdatedCheckpoints = false,
            TryRecoverLatest = false,
        });
        _writer = _kv.For(_functions).NewSession<SpanByteFunctions<Empty>>();
    }

    public long BeginAddress => _kv.Log.BeginAddress;

    public long TailAddress => _kv.Log.TailAddress;

    public long SafeReadOnlyAddress => _kv.Log.SafeReadOnlyAddress;

    /// <summary>Lowest address still in memory; records below it are read from the log file.</summary>
    public long HeadAddress => _kv.Log.HeadAddress;

    /// <summary>Bytes of log pages allocated in memory.</summary>
    public long AllocatedLogBytes => _kv.Log.MemorySizeBytes;

    /// <summary>Bytes of the hash index: its 64-byte buckets, main and overflow.</summary>
    public long HashIndexBytes => (_kv.IndexSize + _kv.OverflowBucketCount) * 64;

    /// <summary>Writes a record (write lock held).</summary>
    [SkipLocalsInit]
    public unsafe void Upsert(ulong id, ReadOnlySpan<byte> record)
    {
        var keyBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(new Span<byte>(keyBytes, 8), id);
        var key = SpanByte.FromPointer(keyBytes, 8);
        fixed (byte* p = record)
        {
            var value = SpanByte.FromPointer(p, record.Length);
            _writer.Upsert(ref key, ref value);
        }
    }

    /// <summary>Deletes a record (write lock held).</summary>
    [SkipLocalsInit]
    public unsafe void Delete(ulong id)
    {
        var keyBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(new Span<byte>(keyBytes, 8), id);
        var key = SpanByte.FromPointer(keyBytes, 8);
        _writer.Delete(ref key);
    }

    /// <summary>Reads a record; the caller disposes <c>Output.Memory</c>.</summary>
    public async ValueTask<(bool Found, SpanByteAndMemory Output)> ReadAsync(ulong id, CancellationToken cancellationToken)
    {
        var session = _readers.TryDequeue(out var pooled) ? pooled : NewSession();
        try
        {
            return await ReadRawAsync(session, id, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _readers.Enqueue(session);
        }
    }

    /// <summary>Reads a record synchronously on the writer session (recovery only: no writes run).</summary>
    [SkipLocalsInit]
    public unsafe (bool Found, SpanByteAndMemory Output) ReadDuringRecovery(ulong id)
    {
        var keyBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(new Span<byte>(keyBytes, 8), id);
        var key = SpanByte.FromPointer(keyBytes, 8);
        SpanByteAndMemory output = default;
        var status = _writer.Read(ref key, ref output);
        if (!status.IsPending)
        {
            return (status.Found, output);
        }

        _writer.CompletePendingWithOutputs(out var outputs, wait: true);
        using (outputs)
        {
            return TakeCompleted(outputs);
        }
    }

    /// <summary>The bytes of a read's output.</summary>
    public static ReadOnlySpan<byte> Bytes(in SpanByteAndMemory output) =>
        output.IsSpanByte ? output.SpanByte.AsReadOnlySpan() : output.Memory.Memory.Span[..output.Length];

    /// <summary>A sequential scan of the whole hybrid log (records in log order, superseded ones and tombstones included).</summary>
    public IFasterScanIterator<SpanByte, SpanByte> Scan() => _kv.Log.Scan(_kv.Log.BeginAddress, _kv.Log.TailAddress);

    /// <summary>Lookup compaction up to <paramref name="until"/>; returns the bytes of address space reclaimed.</summary>
    public long Compact(long until)
    {
        var before = _kv.Log.BeginAddress;
        var session = _readers.TryDequeue(out var pooled) ? pooled : NewSession();
        try
        {
            // Lookup compaction checks each record against the index instead of building a temporary store of the
            // whole range: bounded memory whatever the log size.
            session.Compact(until, CompactionType.Lookup);
        }
        finally
        {
            _readers.Enqueue(session);
        }

        return _kv.Log.BeginAddress - before;
    }

    /// <summary>Starts a fold-over checkpoint of index and log (under the store's write lock, so it holds every change before).</summary>
    public Guid BeginCheckpoint()
    {
        if (!_kv.TryInitiateFullCheckpoint(out var token, CheckpointType.FoldOver))
        {
            throw new InvalidOperationException("FASTER refused to start a checkpoint (another one is in progress).");
        }

        return token;
    }

    public ValueTask CompleteCheckpointAsync() => _kv.CompleteCheckpointAsync();

    /// <summary>Restores a FASTER checkpoint; any failure is reported as damage of that checkpoint.</summary>
    public async Task RecoverAsync(Guid token, CancellationToken cancellationToken)
    {
        try
        {
            await _kv.RecoverAsync(token, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new InvalidDataException($"FASTER could not recover checkpoint {token:D}: {ex.Message}", ex);
        }
    }

    private FasterSession NewSession() => _kv.For(_functions).NewSession<SpanByteFunctions<Empty>>();

    [SkipLocalsInit]
    private static unsafe ValueTask<(bool Found, SpanByteAndMemory Output)> ReadRawAsync(FasterSession session, ulong id, CancellationToken cancellationToken)
    {
        var keyBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(new Span<byte>(keyBytes, 8), id);
        var key = SpanByte.FromPointer(keyBytes, 8);
        SpanByteAndMemory output = default;
        var status = session.Read(ref key, ref output);
        if (!status.IsPending)
        {
            return new ValueTask<(bool, SpanByteAndMemory)>((status.Found, output));
        }

        // The record is on disk and FASTER has issued the read; complete it asynchronously.
        return CompletePendingReadAsync(session, cancellationToken);
    }

    private static async ValueTask<(bool Found, SpanByteAndMemory Output)> CompletePendingReadAsync(FasterSession session, CancellationToken cancellationToken)
    {
        await session.ReadyToCompletePendingAsync(cancellationToken).ConfigureAwait(false);
        session.CompletePendingWithOutputs(out var outputs, wait: true);
        using (outputs)
        {
            return TakeCompleted(outputs);
        }
    }

    private static (bool Found, SpanByteAndMemory Output) TakeCompleted(CompletedOutputIterator<SpanByte, SpanByte, SpanByte, SpanByteAndMemory, Empty> outputs)
    {
        if (!outputs.Next())
        {
            return (false, default);
        }

        ref var completed = ref outputs.Current;
        var result = (completed.Status.Found, completed.Output);
        completed.Output = default; // ownership of the rented memory moves to the caller
        return result;
    }

    public void Dispose()
    {
        while (_readers.TryDequeue(out var reader))
        {
            reader.Dispose();
        }

        _writer.Dispose();
        _kv.Dispose();
        _device.Dispose();
    }
}
