using FASTER.core;

namespace SemCache.Storage;

/// <summary>
/// Wraps the hybrid log's device and reports a failed write to <see cref="StoreHealthMonitor"/> as it completes. FASTER KV
/// does not retry a failed page flush: the page can then never be evicted, and once the in-memory log is full every
/// upsert would wait for it forever. Turning the store not writable on the first failure makes Sets fail fast instead,
/// until the store is restarted (the write-ahead log still holds every acknowledged change).
/// </summary>
internal sealed class HealthReportingDevice : IDevice
{
    private readonly IDevice _inner;
    private readonly Action<uint> _writeFailed;

    public HealthReportingDevice(IDevice inner, Action<uint> writeFailed)
    {
        _inner = inner;
        _writeFailed = writeFailed;
    }

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

    public void WriteAsync(IntPtr sourceAddress, int segmentId, ulong destinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context) =>
        _inner.WriteAsync(sourceAddress, segmentId, destinationAddress, numBytesToWrite, Observe(callback), context);

    public void WriteAsync(IntPtr alignedSourceAddress, ulong alignedDestinationAddress, uint numBytesToWrite, DeviceIOCompletionCallback callback, object context) =>
        _inner.WriteAsync(alignedSourceAddress, alignedDestinationAddress, numBytesToWrite, Observe(callback), context);

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

    private DeviceIOCompletionCallback Observe(DeviceIOCompletionCallback callback) => (errorCode, numBytes, context) =>
    {
        if (errorCode != 0)
        {
            _writeFailed(errorCode);
        }

        callback(errorCode, numBytes, context);
    };
}
