using Microsoft.Extensions.Logging;

namespace SemCache.Storage;

/// <summary>Source-generated log messages of the entry store.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Entry store created in {Directory} (durability {Durability})")]
    public static partial void Created(ILogger logger, string directory, DurabilityMode durability);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Entry store recovered in {ElapsedMs} ms: checkpoint {Sequence} with {CheckpointEntries} entries, {Replayed} write-ahead-log operations replayed, {Expired} expired entries dropped, {Entries} live entries")]
    public static partial void Recovered(ILogger logger, long elapsedMs, long sequence, long checkpointEntries, long replayed, long expired, long entries);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Recovery problem: {Problem}")]
    public static partial void RecoveryProblem(ILogger logger, string problem);

    [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "Data directory {Directory} could not be recovered and was moved to {MovedTo}; starting empty. Lost: {Problems}")]
    public static partial void MovedAside(ILogger logger, string directory, string movedTo, string problems);

    [LoggerMessage(EventId = 5, Level = LogLevel.Debug, Message = "Checkpoint {Sequence} of {Entries} entries took {ElapsedMs} ms")]
    public static partial void CheckpointTaken(ILogger logger, long sequence, long entries, long elapsedMs);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "Background {Task} failed")]
    public static partial void BackgroundFailure(ILogger logger, Exception exception, string task);

    [LoggerMessage(EventId = 7, Level = LogLevel.Error, Message = "Entry {Id} is damaged in the hybrid log ({Problem}); treated as a miss")]
    public static partial void CorruptRecord(ILogger logger, ulong id, string problem);

    [LoggerMessage(EventId = 8, Level = LogLevel.Debug, Message = "Sweep removed {Count} expired entries")]
    public static partial void Swept(ILogger logger, int count);

    [LoggerMessage(EventId = 9, Level = LogLevel.Error, Message = "Entry-store observer threw; the index may miss a removal")]
    public static partial void ObserverFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 10, Level = LogLevel.Information, Message = "Entry store closed after final checkpoint {Sequence} ({Entries} entries)")]
    public static partial void Closed(ILogger logger, long sequence, long entries);

    [LoggerMessage(EventId = 11, Level = LogLevel.Error, Message = "Entry store cannot write: {Reason}")]
    public static partial void Unwritable(ILogger logger, Exception exception, string reason);

    [LoggerMessage(EventId = 12, Level = LogLevel.Information, Message = "Entry store in {Directory} is writable again: a retried commit succeeded")]
    public static partial void WritableAgain(ILogger logger, string directory);

    [LoggerMessage(EventId = 13, Level = LogLevel.Error, Message = "Entry store in {Directory} closed without a final checkpoint: {Reason}. What changed after checkpoint {Sequence} and is not in the write-ahead log is lost; {Entries} entries were live")]
    public static partial void ClosedWithoutCheckpoint(ILogger logger, string directory, long sequence, long entries, string reason);

    [LoggerMessage(EventId = 14, Level = LogLevel.Error, Message = "Entry store in {Directory}: the final checkpoint failed; recovery will start from checkpoint {Sequence} and the write-ahead log ({Entries} entries were live)")]
    public static partial void CloseCheckpointFailed(ILogger logger, Exception exception, string directory, long sequence, long entries);
}
