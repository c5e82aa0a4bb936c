using System.Numerics;
using FASTER.core;

namespace SemCache.Storage;

/// <summary>
/// The write-ahead log: FASTER Log files in <c>wal/</c>, how they are opened, and the operations they hold: an op byte
/// and a log sequence number (replay detects a hole in the log by a gap in the numbers), then the payload: an entry
/// record for a Set, the entry id for a Delete, nothing for a probe.
/// </summary>
internal static class WriteAheadLog
{
    public const byte Set = 1;
    public const byte Delete = 2;
    public const byte Probe = 3; // written by the health retry to test the device; replay ignores it
    public const int HeaderSize = 9;

    public static int SegmentBits(int pageBits) => Math.Max(pageBits, DataDirectoryLayout.KvSegmentSizeBits);

    /// <summary>log2 of the log's in-memory buffer: four pages, at least 32 MiB.</summary>
    public static int MemoryBits(int pageSizeBytes) => Math.Max(BitOperations.Log2((uint)pageSizeBytes) + 2, 25);

    /// <summary>Opens (recovering what FASTER can) or creates the log.</summary>
    public static (FasterLog Log, IDevice Device) Open(EntryStoreOptions options, DataDirectoryLayout layout, Func<string, IDevice> createDevice)
    {
        Directory.CreateDirectory(layout.WalDirectory);
        var device = createDevice(layout.WalBasePath);
        var pageBits = BitOperations.Log2((uint)options.PageSizeBytes);
        var log = new FasterLog(new FasterLogSettings
        {
            LogDevice = device,
            LogCommitDir = Path.Combine(layout.WalDirectory, "commits"),
            PageSizeBits = pageBits,
            MemorySizeBits = MemoryBits(options.PageSizeBytes),
            SegmentSizeBits = SegmentBits(pageBits),
            LogChecksum = LogChecksumType.PerEntry,
            TryRecoverLatest = true,
            RemoveOutdatedCommits = true,
            // Commit records go into the log itself (one sequential write per commit) instead of a separate commit file:
            // what makes a group commit cheap enough for Strict mode.
            FastCommitMode = true,
            // A failed flush faults its commit and the log moves on (see StoreHealthMonitor) instead of failing every
            // later operation until a restart.
            TolerateDeviceFailure = true,
        });
        return (log, device);
    }
}
