using System.Globalization;
using System.Text;

namespace SemCache.Storage;

/// <summary>
/// The data directory's layout and the small files that guard it: <c>FORMAT</c> (store format version), <c>LOCK</c>
/// (one store per directory), <c>EPOCH</c> (id epochs), and moving a damaged directory aside.
/// </summary>
/// <remarks>
/// Layout: <c>kv/</c> (FASTER hybrid log segments), <c>kv-checkpoints/</c> (FASTER index and log checkpoints),
/// <c>wal/</c> (write-ahead log), <c>checkpoints/</c> (manifests and directory snapshots). The cache engine keeps
/// <c>index/</c> and <c>namespaces.json</c> beside them.
/// </remarks>
internal sealed class DataDirectoryLayout : IDisposable
{
    public const int KvSegmentSizeBits = 28;
    private const string FormatFileName = "FORMAT";
    private const string LockFileName = "LOCK";
    private const string EpochFileName = "EPOCH";
    private const int StoreFormatVersion = 1;
    private const int IdCounterBits = 40;

    private FileStream? _lock;

    public DataDirectoryLayout(string dataDirectory)
    {
        Root = Path.GetFullPath(dataDirectory);
    }

    public string Root { get; }

    public string KvDirectory => Path.Combine(Root, "kv");

    public string KvCheckpointDirectory => Path.Combine(Root, "kv-checkpoints");

    public string WalDirectory => Path.Combine(Root, "wal");

    public string CheckpointDirectory => Path.Combine(Root, "checkpoints");

    /// <summary>Segment files of the write-ahead log are <c>{WalBasePath}.{segment}</c>.</summary>
    public string WalBasePath => Path.Combine(WalDirectory, "wal.log");

    public string KvBasePath => Path.Combine(KvDirectory, "hlog.log");

    /// <summary>Creates the directory (if needed) and takes its lock.</summary>
    public void Open()
    {
        Directory.CreateDirectory(Root);
        AcquireLock();
    }

    public static bool HasData(string directory) =>
        Directory.Exists(directory) && Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Any(f => new FileInfo(f).Length > 0);

    /// <summary>
    /// Checks <c>FORMAT</c>: returns why the directory is unrecoverable (store data without it), or null; throws
    /// <see cref="EntryStoreVersionException"/> for another version.
    /// </summary>
    public string? CheckFormat(List<string> problems)
    {
        var formatPath = Path.Combine(Root, FormatFileName);
        if (File.Exists(formatPath))
        {
            var text = File.ReadAllText(formatPath).Trim();
            var expected = FormatLine();
            if (!text.StartsWith("semcache-entry-store format=", StringComparison.Ordinal) || !int.TryParse(text.AsSpan(28), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                throw new EntryStoreCorruptedException(
                    $"The {FormatFileName} file of {Root} is damaged (it reads '{Shorten(text)}'). Nothing was changed; if this directory holds a SemCache entry store written by this version, write '{expected}' into {formatPath} and start again, else point DataDirectory elsewhere.");
            }

            if (!string.Equals(text, expected, StringComparison.Ordinal))
            {
                throw new EntryStoreVersionException(
                    $"The data directory {Root} was written in format '{text}'; this build reads '{expected}'. Open it with the SemCache version that wrote it, or point DataDirectory elsewhere.");
            }

            return null;
        }

        if (HasData(KvDirectory) || HasData(CheckpointDirectory) || HasData(WalDirectory))
        {
            return $"the {FormatFileName} file is missing from {Root}, yet the directory holds store data";
        }

        // The cache engine keeps its vector index and namespace table in the same directory: not unrelated.
        if (Directory.EnumerateFileSystemEntries(Root).Any(e => !IsKnown(Path.GetFileName(e))))
        {
            problems.Add($"{Root} holds unrelated files; they are left alone");
        }

        return null;

        static bool IsKnown(string name) =>
            name is LockFileName or EpochFileName or "index" or "namespaces.json" || name.StartsWith("damaged-", StringComparison.Ordinal);
    }

    private static string Shorten(string text)
    {
        var printable = new string(text.Take(40).Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return text.Length > 40 ? printable + "…" : printable;
    }

    public void WriteFormat()
    {
        Directory.CreateDirectory(KvDirectory);
        CheckpointManifest.WriteDurably(Path.Combine(Root, FormatFileName), Encoding.UTF8.GetBytes(FormatLine() + "\n"));
    }

    private static string FormatLine() => "semcache-entry-store format=" + StoreFormatVersion.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Ids are (epoch &lt;&lt; 40) | counter, and every open starts a new epoch, written durably before any Set. Sets that
    /// a crash lost had ids the engine may already have put in its index (or an index snapshot); without epochs the
    /// recovered store would hand the same ids to new entries and a stale vector would lead to the wrong response.
    /// 2^40 Sets per process lifetime, 2^23 lifetimes. Returns the id counter to continue from.
    /// </summary>
    public long StartIdEpoch(long lastId)
    {
        var path = Path.Combine(Root, EpochFileName);
        long epoch = 0;
        if (File.Exists(path) && long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var stored))
        {
            epoch = stored;
        }

        epoch = Math.Max(epoch, lastId >> IdCounterBits) + 1;
        CheckpointManifest.WriteDurably(path, Encoding.UTF8.GetBytes(epoch.ToString(CultureInfo.InvariantCulture) + "\n"));
        return epoch << IdCounterBits;
    }

    /// <summary>
    /// Holds an exclusive lock on <c>LOCK</c> for the store's lifetime (.NET takes an advisory flock on Unix), so a second
    /// process opening the same directory gets a clear error instead of corrupting it. The kernel releases the lock when
    /// the process dies, so a crash never leaves a stale lock behind.
    /// </summary>
    private void AcquireLock()
    {
        try
        {
            _lock = new FileStream(Path.Combine(Root, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new IOException($"The data directory {Root} is in use by another entry store (its {LockFileName} file is locked). Stop the other process or use another DataDirectory.", ex);
        }
    }

    /// <summary>
    /// Moves the damaged directory to <c>&lt;root&gt;.damaged-&lt;timestamp&gt;</c> and leaves an empty, locked one. Where
    /// the directory cannot be renamed (it is a mount point, as a container volume is), moves everything in it into a
    /// <c>damaged-&lt;timestamp&gt;</c> folder inside it instead; nothing is deleted either way. Returns where the data went.
    /// </summary>
    public string MoveAside(DateTimeOffset now)
    {
        var stamp = "damaged-" + now.ToString("yyyyMMddTHHmmssfffZ", CultureInfo.InvariantCulture);
        var target = Root.TrimEnd(Path.DirectorySeparatorChar) + "." + stamp;
        _lock?.Dispose();
        _lock = null;
        string movedTo;
        try
        {
            Directory.Move(Root, target);
            Directory.CreateDirectory(Root);
            movedTo = target;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            movedTo = Path.Combine(Root, stamp);
            Directory.CreateDirectory(movedTo);
            foreach (var entry in Directory.EnumerateFileSystemEntries(Root).ToList())
            {
                var name = Path.GetFileName(entry);
                if (name.StartsWith("damaged-", StringComparison.Ordinal))
                {
                    continue;
                }

                if (Directory.Exists(entry))
                {
                    Directory.Move(entry, Path.Combine(movedTo, name));
                }
                else
                {
                    File.Move(entry, Path.Combine(movedTo, name));
                }
            }
        }

        AcquireLock();
        return movedTo;
    }

    /// <summary>
    /// A truncated hybrid log would make FASTER return not-found for records it lost — a silent loss. The manifest records
    /// the log tail at checkpoint time; every segment file up to it must be there, long enough.
    /// </summary>
    public void ValidateHybridLogSegments(CheckpointManifest manifest)
    {
        if (manifest.KvTailAddress <= manifest.KvBeginAddress)
        {
            return;
        }

        const long segmentSize = 1L << KvSegmentSizeBits;
        var first = manifest.KvBeginAddress >> KvSegmentSizeBits;
        var last = (manifest.KvTailAddress - 1) >> KvSegmentSizeBits;
        for (var segment = first; segment <= last; segment++)
        {
            var path = KvBasePath + "." + segment.ToString(CultureInfo.InvariantCulture);
            var need = segment == last ? ((manifest.KvTailAddress - 1) & (segmentSize - 1)) + 1 : segmentSize;
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                throw new InvalidDataException($"hybrid log segment {path} is missing; checkpoint {manifest.Sequence} needs it");
            }

            if (info.Length < need)
            {
                throw new InvalidDataException($"hybrid log segment {path} is {info.Length} bytes; checkpoint {manifest.Sequence} needs at least {need} (the log was truncated)");
            }
        }
    }

    public void Dispose()
    {
        _lock?.Dispose();
        _lock = null;
    }
}
