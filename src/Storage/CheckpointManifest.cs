using System.Globalization;
using System.IO.Hashing;
using System.Text;

namespace SemCache.Storage;

/// <summary>
/// One checkpoint's manifest: which FASTER checkpoint and directory snapshot belong together, and from which
/// write-ahead-log address recovery replays. Written last (temp file, fsync, rename), so a manifest that exists and
/// passes its checksum names a complete checkpoint.
/// </summary>
internal sealed record CheckpointManifest(
    int FormatVersion,
    long Sequence,
    Guid FasterToken,
    long WalAddress,
    long KvBeginAddress,
    long KvTailAddress,
    long EntryCount,
    long CreatedUnixMs)
{
    public const int CurrentFormatVersion = 1;
    private const string Prefix = "checkpoint-";
    private const string Suffix = ".manifest";

    public static string FileName(long sequence) => Prefix + sequence.ToString("D12", CultureInfo.InvariantCulture) + Suffix;

    public static string DirectoryFileName(long sequence) => "directory-" + sequence.ToString("D12", CultureInfo.InvariantCulture) + ".bin";

    public byte[] Serialize()
    {
        var text = string.Create(
            CultureInfo.InvariantCulture,
            $"semcache-checkpoint\nformat={FormatVersion}\nsequence={Sequence}\nfaster={FasterToken:D}\nwal={WalAddress}\nkvBegin={KvBeginAddress}\nkvTail={KvTailAddress}\nentries={EntryCount}\ncreated={CreatedUnixMs}\n");
        var body = Encoding.UTF8.GetBytes(text);
        var checksum = XxHash3.HashToUInt64(body).ToString("x16", CultureInfo.InvariantCulture);
        return [.. body, .. Encoding.UTF8.GetBytes("checksum=" + checksum + "\n")];
    }

    /// <summary>Parses a manifest; throws <see cref="InvalidDataException"/> (damage) or <see cref="EntryStoreVersionException"/> (another format).</summary>
    public static CheckpointManifest Parse(byte[] data, string path)
    {
        var text = Encoding.UTF8.GetString(data);
        var checksumAt = text.LastIndexOf("checksum=", StringComparison.Ordinal);
        if (!text.StartsWith("semcache-checkpoint\n", StringComparison.Ordinal) || checksumAt < 0)
        {
            throw new InvalidDataException($"checkpoint manifest {path} is not a SemCache manifest or is truncated");
        }

        var body = Encoding.UTF8.GetBytes(text[..checksumAt]);
        var expected = XxHash3.HashToUInt64(body).ToString("x16", CultureInfo.InvariantCulture);
        if (!string.Equals(text[(checksumAt + 9)..].Trim(), expected, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"checkpoint manifest {path} checksum mismatch");
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text[..checksumAt].Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                values[line[..eq]] = line[(eq + 1)..];
            }
        }

        var format = int.Parse(values["format"], CultureInfo.InvariantCulture);
        if (format != CurrentFormatVersion)
        {
            throw new EntryStoreVersionException($"Checkpoint manifest {path} has format version {format}; this build reads version {CurrentFormatVersion}. Open it with a matching SemCache version or move the data directory aside.");
        }

        return new CheckpointManifest(
            format,
            long.Parse(values["sequence"], CultureInfo.InvariantCulture),
            Guid.Parse(values["faster"]),
            long.Parse(values["wal"], CultureInfo.InvariantCulture),
            long.Parse(values["kvBegin"], CultureInfo.InvariantCulture),
            long.Parse(values["kvTail"], CultureInfo.InvariantCulture),
            long.Parse(values["entries"], CultureInfo.InvariantCulture),
            long.Parse(values["created"], CultureInfo.InvariantCulture));
    }

    /// <summary>Sequences of the manifests in a directory, newest first.</summary>
    public static List<long> List(string directory)
    {
        var result = new List<long>();
        if (!Directory.Exists(directory))
        {
            return result;
        }

        foreach (var file in Directory.EnumerateFiles(directory, Prefix + "*" + Suffix))
        {
            var name = Path.GetFileName(file);
            if (long.TryParse(name.AsSpan(Prefix.Length, name.Length - Prefix.Length - Suffix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
            {
                result.Add(sequence);
            }
        }

        result.Sort((a, b) => b.CompareTo(a));
        return result;
    }

    /// <summary>
    /// Writes a file so that it is either absent or complete: temp file, fsync, atomic rename. (.NET cannot fsync a
    /// directory; if power fails right after the rename, the newest manifest may be missing and recovery falls back to
    /// the previous one, whose write-ahead-log range is still retained.)
    /// </summary>
    public static void WriteDurably(string path, ReadOnlySpan<byte> data)
    {
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.None))
        {
            stream.Write(data);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }
}
