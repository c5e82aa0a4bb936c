namespace SemCache.Storage;

/// <summary>What the store holds in memory, by part, for the memory benchmark (docs/benchmarks.md, "Memory per entry").</summary>
/// <param name="Entries">Live entries.</param>
/// <param name="LogAllocatedBytes">Hybrid-log pages FASTER has allocated (pinned arrays; at most <see cref="EntryStoreOptions.MemoryLogSizeBytes"/> plus a page).</param>
/// <param name="LogInMemoryBytes">Log bytes between FASTER's head and tail addresses: the records readable without disk I/O.</param>
/// <param name="LogOnDiskBytes">Log bytes below the head address: records that spilled to the log file.</param>
/// <param name="HashIndexBytes">FASTER's hash index: its buckets and the overflow buckets chained so far.</param>
/// <param name="WalMemoryBytes">The write-ahead log's in-memory buffer (0 with <see cref="DurabilityMode.None"/>).</param>
/// <param name="RecordBytes">Serialized bytes of the live entries (<see cref="EntryStore.Bytes"/>).</param>
public readonly record struct StoreMemory(long Entries, long LogAllocatedBytes, long LogInMemoryBytes, long LogOnDiskBytes, long HashIndexBytes, long WalMemoryBytes, long RecordBytes);
