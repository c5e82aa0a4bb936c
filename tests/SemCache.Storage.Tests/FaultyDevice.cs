using FASTER.core;

namespace SemCache.Storage.Tests;

/// <summary>
/// Wraps a FASTER device and, while <see cref="Failing"/> is set, completes every write with the given OS error
/// (28, ENOSPC, by default) without writing anything, as a full disk does. Reads pass through.
/// </summary>
internal sealed class FaultyDevice : IDevice
{
    private readonly IDevice _inner;

    public FaultyDevice(IDevice inner)
    {
        _inner = inner;
    }

    public volatile bool Failing;

    public uint ErrorCode { get; set; } = 28;

    public int FailedWrites;

    public uint SectorSize => _inner.SectorSize;

    public string FileName => _inner.FileName;

    public long Capacity => _inner.Capacity;

    public long SegmentSize => _inner.SegmentSize;

    public int StartSegment => _inner.StartSegment;

    public int EndSegment => _inner.EndSegment;

    public int ThrottleLimit
    {
        get => _inner.ThrottleLimit;
        set => _inner.ThrottleLimit = value;
    }

    public void Initialize(long segmentSize, LightEpoch epoch = null!, bool omitSegmentIdFromFilename = false) => _inner.Initialize(segmentSize, epoch, omitSegmentIdFromFilename);

    public bool TryComplete() => _inner.TryComplete();

    public bool Throttle() => _inner.Throttle();

    public void WriteAsync(IntPtr sourceAddress, int segmentId, ulong destinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context)
    {
        if (Failing)
        {
            Interlocked.Increment(ref FailedWrites);
            ThreadPool.QueueUserWorkItem(_ => callback(ErrorCode, 0, context));
            return;
        }

        _inner.WriteAsync(sourceAddress, segmentId, destinationAddress, numBytesToWrite, callback, context);
    }

    public void WriteAsync(IntPtr alignedSourceAddress, ulong alignedDestinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context)
    {
        if (Failing)
        {
            Interlocked.Increment(ref FailedWrites);
            ThreadPool.QueueUserWorkItem(_ => callback(ErrorCode, 0, context));
            return;
        }

        _inner.WriteAsync(alignedSourceAddress, alignedDestinationAddress, numBytesToWrite, callback, context);
    }

    public void ReadAsync(int segmentId, ulong sourceAddress, IntPtr destinationAddress, uint readLength, DeviceIOCompletionCallback callback, object context) =>
        _inner.ReadAsync(segmentId, sourceAddress, destinationAddress, readLength, callback, context);

    public void ReadAsync(ulong alignedSourceAddress, IntPtr alignedDestinationAddress, uint aligned_read_length, DeviceIOCompletionCallback callback, object context) =>
        _inner.ReadAsync(alignedSourceAddress, alignedDestinationAddress, aligned_read_length, callback, context);

    public void TruncateUntilAddressAsync(long toAddress, AsyncCallback callback, IAsyncResult result) => _inner.TruncateUntilAddressAsync(toAddress, callback, result);

    public void TruncateUntilAddress(long toAddress) => _inner.TruncateUntilAddress(toAddress);

    public void TruncateUntilSegmentAsync(int toSegment, AsyncCallback callback, IAsyncResult result) => _inner.TruncateUntilSegmentAsync(toSegment, callback, result);

    public void TruncateUntilSegment(int toSegment) => _inner.TruncateUntilSegment(toSegment);

    public void RemoveSegmentAsync(int segment, AsyncCallback callback, IAsyncResult result) => _inner.RemoveSegmentAsync(segment, callback, result);

    public void RemoveSegment(int segment) => _inner.RemoveSegment(segment);

    public long GetFileSize(int segment) => _inner.GetFileSize(segment);

    public void Reset() => _inner.Reset();

    public void Dispose() => _inner.Dispose();
}

/// <summary>Installs <see cref="FaultyDevice"/> around the write-ahead-log device of a store and exposes it.</summary>
internal sealed class WalFaults
{
    public FaultyDevice? Wal { get; private set; }

    public FaultyDevice? HybridLog { get; private set; }

    public void Install(EntryStoreOptions options) =>
        options.DeviceWrapper = device =>
        {
            var faulty = new FaultyDevice(device);
            if (device.FileName.Contains("wal.log", StringComparison.Ordinal))
            {
                Wal = faulty;
            }
            else
            {
                HybridLog = faulty;
            }

            return faulty;
        };

    /// <summary>Waits (bounded, not a speed assertion) until a condition holds.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!condition())
        {
            Xunit.Assert.True(DateTime.UtcNow < deadline, "timed out waiting until " + what);
            await Task.Delay(20, Xunit.TestContext.Current.CancellationToken);
        }
    }
}
