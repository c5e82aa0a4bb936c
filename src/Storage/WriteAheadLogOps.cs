namespace SemCache.Storage;

/// <summary>
/// The operations the write-ahead log holds: an op byte and a log sequence number (replay detects a hole in the log by
/// a gap in the numbers), then the payload: an entry record for a Set, the entry id for a Delete, nothing for a probe.
/// </summary>
internal static class WriteAheadLogOps
{
    public const byte Set = 1;
    public const byte Delete = 2;
    public const byte Probe = 3; // written by the health retry to test the device; replay ignores it
    public const int HeaderSize = 9;
}
