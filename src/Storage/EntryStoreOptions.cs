namespace SemCache.Storage;

/// <summary>How an acknowledged <see cref="EntryStore.SetAsync"/> survives a crash of the process or the machine.</summary>
public enum DurabilityMode
{
    /// <summary>
    /// A Set (and a Delete) is acknowledged only once its write-ahead-log record is committed to the device (FASTER's
    /// file device writes through the OS cache, so a completed commit survives a power loss as far as the disk honours
    /// write-through). Concurrent writers share one commit (group commit). A crash loses no acknowledged Set.
    /// </summary>
    Strict = 0,

    /// <summary>
    /// The default. Sets are acknowledged as soon as they are in memory; a commit of the write-ahead log is issued every
    /// <see cref="EntryStoreOptions.CommitInterval"/>. A crash loses the Sets acknowledged since the last completed
    /// commit: normally those of the last interval plus the commit's own device latency, and never more than about two
    /// intervals plus that latency, because Sets are held back whenever the commit issued one interval earlier has not
    /// completed yet (a device slower than the write rate throttles writers instead of widening the window).
    /// </summary>
    Periodic = 1,

    /// <summary>
    /// No write-ahead log. The store is persisted only by checkpoints (every <see cref="EntryStoreOptions.CheckpointInterval"/>
    /// and on graceful shutdown). A crash loses every change made since the last completed checkpoint.
    /// </summary>
    None = 2,
}

/// <summary>Which entry is removed first once the store is over <see cref="EntryStoreOptions.MaxEntries"/> or <see cref="EntryStoreOptions.MaxBytes"/>.</summary>
public enum EvictionPolicy
{
    /// <summary>The entry whose last hit (or creation, if never hit) is the oldest. The default: it keeps popular answers.</summary>
    LeastRecentlyHit = 0,

    /// <summary>The entry created first, whatever its hits (FIFO). Reads do not touch eviction state.</summary>
    Oldest = 1,
}

/// <summary>What start-up does when no checkpoint in the data directory can be recovered.</summary>
public enum UnrecoverableDataPolicy
{
    /// <summary>Throw <see cref="EntryStoreCorruptedException"/> naming the damage; the directory is left untouched. The default.</summary>
    Fail = 0,

    /// <summary>
    /// Move the damaged directory aside (renamed to <c>&lt;DataDirectory&gt;.damaged-&lt;UTC timestamp&gt;</c>, nothing deleted),
    /// log an error saying what was lost, and start with an empty store.
    /// </summary>
    MoveAsideAndStartEmpty = 1,
}

/// <summary>
/// Options of an <see cref="EntryStore"/>. Every default is documented on its property; <see cref="Validate"/> reports
/// every invalid value with a message that names it.
/// </summary>
public sealed class EntryStoreOptions
{
    /// <summary>Directory holding the FASTER hybrid log, the write-ahead log and checkpoints. Required.</summary>
    public string DataDirectory { get; set; } = "";

    /// <summary>Durability of acknowledged Sets. Default <see cref="DurabilityMode.Periodic"/>.</summary>
    public DurabilityMode Durability { get; set; } = DurabilityMode.Periodic;

    /// <summary>
    /// In <see cref="DurabilityMode.Periodic"/>, how often the write-ahead log is committed; a crash loses about the Sets
    /// acknowledged during the last interval (at most about two, see <see cref="DurabilityMode.Periodic"/>).
    /// Default 100 ms. Range 1 ms to 1 minute.
    /// </summary>
    public TimeSpan CommitInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// How often a checkpoint (store records + entry directory) is taken; it bounds recovery time (write-ahead-log replay)
    /// and, in <see cref="DurabilityMode.None"/>, what a crash loses. <see cref="TimeSpan.Zero"/> disables periodic
    /// checkpoints (one is still taken on graceful shutdown). Default 1 minute.
    /// </summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Size in bytes of FASTER's hash index (rounded down to a power of two, minimum 64 KiB). Each 64-byte bucket holds
    /// 7 entries before overflow buckets are chained, so 16 MiB suits about 1.5 million entries. Default 16 MiB.
    /// </summary>
    public long HashIndexSizeBytes { get; set; } = 16L << 20;

    /// <summary>
    /// Bytes of the hybrid log kept in memory (rounded down to a power of two, at least 4 pages). Older records spill to
    /// the log file in <see cref="DataDirectory"/> and stay readable from disk. Default 256 MiB.
    /// </summary>
    public long MemoryLogSizeBytes { get; set; } = 256L << 20;

    /// <summary>Size of one hybrid-log page (power of two, 4 KiB to 64 MiB); a record cannot be larger. Default 4 MiB.</summary>
    public int PageSizeBytes { get; set; } = 4 << 20;

    /// <summary>Largest serialized entry accepted by Set (prompt, response, vector, attributes). Default 1 MiB; at most half a page.</summary>
    public int MaxEntryBytes { get; set; } = 1 << 20;

    /// <summary>Maximum number of live entries; past it the store evicts. 0 means unlimited. Default 0.</summary>
    public long MaxEntries { get; set; }

    /// <summary>Maximum total serialized bytes of live entries; past it the store evicts. 0 means unlimited. Default 0.</summary>
    public long MaxBytes { get; set; }

    /// <summary>Which entries are evicted first. Default <see cref="EvictionPolicy.LeastRecentlyHit"/>.</summary>
    public EvictionPolicy Eviction { get; set; } = EvictionPolicy.LeastRecentlyHit;

    /// <summary>
    /// Entries sampled to choose each eviction victim (the best of the sample is evicted, as Redis does); a store holding no
    /// more entries than this evicts exactly. Default 16. Range 1 to 1024.
    /// </summary>
    public int EvictionSampleSize { get; set; } = 16;

    /// <summary>Time to live of an entry set without one. Default 24 hours.</summary>
    public TimeSpan DefaultTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Longest time to live a Set may ask for: the store clamps a longer one to it, the engine rejects it (INVALID_ARGUMENT). Default 30 days.</summary>
    public TimeSpan MaxTtl { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// When true, a hit restarts the entry's time to live. Default false: a hit never extends it. A slid expiry is persisted
    /// by the next checkpoint; a crash before it reverts the entry to its previous expiry.
    /// </summary>
    public bool SlidingExpiration { get; set; }

    /// <summary>How often the background sweep removes expired entries. <see cref="TimeSpan.Zero"/> disables it (expired entries are still never returned). Default 30 seconds.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Log compaction trigger: before a periodic checkpoint, when the hybrid log spans more than this many times the live
    /// bytes (and at least 64 MiB), live records in its older part are copied forward and the space before them is freed
    /// once no retained checkpoint needs it. Without compaction, replaced, deleted, expired and evicted entries would
    /// keep their disk space forever. 0 disables it. Default 2.
    /// </summary>
    public double LogCompactionRatio { get; set; } = 2;

    /// <summary>What start-up does if no checkpoint can be recovered. Default <see cref="UnrecoverableDataPolicy.Fail"/>.</summary>
    public UnrecoverableDataPolicy OnUnrecoverableData { get; set; } = UnrecoverableDataPolicy.Fail;

    /// <summary>
    /// Test seam, not configuration: wraps each FASTER device the store creates (the hybrid log, <c>kv/hlog.log</c>, and
    /// the write-ahead log, <c>wal/wal.log</c>; <see cref="FASTER.core.IDevice.FileName"/> says which) so tests can inject
    /// device failures such as a full disk. Null (the default) uses the devices as created.
    /// </summary>
    internal Func<FASTER.core.IDevice, FASTER.core.IDevice>? DeviceWrapper { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> listing every invalid option.</summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public void Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(DataDirectory))
        {
            errors.Add("DataDirectory is required.");
        }

        if (!Enum.IsDefined(Durability))
        {
            errors.Add($"Durability {(int)Durability} is not a DurabilityMode.");
        }

        if (CommitInterval < TimeSpan.FromMilliseconds(1) || CommitInterval > TimeSpan.FromMinutes(1))
        {
            errors.Add($"CommitInterval must be between 1 ms and 1 minute (was {CommitInterval}).");
        }

        if (CheckpointInterval < TimeSpan.Zero)
        {
            errors.Add($"CheckpointInterval must not be negative (was {CheckpointInterval}).");
        }

        if (HashIndexSizeBytes < 64 << 10 || HashIndexSizeBytes > 1L << 40)
        {
            errors.Add($"HashIndexSizeBytes must be between 64 KiB and 1 TiB (was {HashIndexSizeBytes}).");
        }

        if (PageSizeBytes < 4096 || PageSizeBytes > 64 << 20 || (PageSizeBytes & (PageSizeBytes - 1)) != 0)
        {
            errors.Add($"PageSizeBytes must be a power of two between 4 KiB and 64 MiB (was {PageSizeBytes}).");
        }
        else if (MemoryLogSizeBytes < 4L * PageSizeBytes)
        {
            errors.Add($"MemoryLogSizeBytes must be at least 4 pages ({4L * PageSizeBytes} bytes) (was {MemoryLogSizeBytes}).");
        }

        if (MaxEntryBytes < 256 || (PageSizeBytes >= 4096 && MaxEntryBytes > PageSizeBytes / 2))
        {
            errors.Add($"MaxEntryBytes must be between 256 and half a page ({PageSizeBytes / 2}) (was {MaxEntryBytes}).");
        }

        if (MaxEntries < 0)
        {
            errors.Add($"MaxEntries must not be negative (was {MaxEntries}).");
        }

        if (MaxBytes < 0)
        {
            errors.Add($"MaxBytes must not be negative (was {MaxBytes}).");
        }

        if (!Enum.IsDefined(Eviction))
        {
            errors.Add($"Eviction {(int)Eviction} is not an EvictionPolicy.");
        }

        if (EvictionSampleSize is < 1 or > 1024)
        {
            errors.Add($"EvictionSampleSize must be between 1 and 1024 (was {EvictionSampleSize}).");
        }

        if (DefaultTtl <= TimeSpan.Zero)
        {
            errors.Add($"DefaultTtl must be positive (was {DefaultTtl}).");
        }

        if (MaxTtl < DefaultTtl)
        {
            errors.Add($"MaxTtl ({MaxTtl}) must be at least DefaultTtl ({DefaultTtl}).");
        }

        if (SweepInterval < TimeSpan.Zero)
        {
            errors.Add($"SweepInterval must not be negative (was {SweepInterval}).");
        }

        if (LogCompactionRatio != 0 && (LogCompactionRatio < 1.1 || double.IsNaN(LogCompactionRatio)))
        {
            errors.Add($"LogCompactionRatio must be 0 (off) or at least 1.1 (was {LogCompactionRatio}).");
        }

        if (!Enum.IsDefined(OnUnrecoverableData))
        {
            errors.Add($"OnUnrecoverableData {(int)OnUnrecoverableData} is not an UnrecoverableDataPolicy.");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid EntryStoreOptions: " + string.Join(" ", errors));
        }
    }
}
