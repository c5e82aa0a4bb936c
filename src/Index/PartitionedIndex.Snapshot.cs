using System.Buffers.Binary;
using System.IO.Hashing;

namespace SemCache.Index;

// Snapshots of the whole collection: one file, written beside the target and renamed over it, checked whole on load.
public sealed partial class PartitionedIndex
{
    private const ulong Magic = 0x315844_4943_4D45_53UL; // "SEMCIDX1" little-endian
    private const int FormatVersion = 1;
    private const int HeaderSize = 80;
    private const byte FlatKind = 0;
    private const byte GraphKind = 1;

    /// <summary>
    /// Writes every partition to <paramref name="path"/>: an 80-byte header (magic "SEMCIDX1", format version, options,
    /// partition count, body length, XxHash64 of the body, XxHash64 of the header), then each partition's key and flat
    /// arrays (little-endian). The file is written beside the
    /// target under a temporary name, flushed to disk, then renamed over it, so a crash leaves the old snapshot or the
    /// new one, never a mix. Writers wait while it runs; searches do not.
    /// </summary>
    /// <param name="path">Destination file.</param>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ThrowIfDisposed();
        string full = Path.GetFullPath(path);
        string temp = full + ".tmp-" + Guid.NewGuid().ToString("N");
        _gate.EnterWriteLock();
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20))
            {
                stream.Write(new byte[HeaderSize]);
                var writer = new SnapshotWriter(stream);
                int written = 0;
                foreach (KeyValuePair<PartitionKey, PartitionSlot> p in _partitions)
                {
                    // Writers wait on the gate, so a partition entered here is not retired under us; one retired (or
                    // still empty) before we got to it is not written.
                    if (!p.Value.TryEnter())
                    {
                        continue;
                    }

                    try
                    {
                        IVectorPartitionIndex index = p.Value.Index;
                        if (index.Count == 0)
                        {
                            continue;
                        }

                        writer.WriteUInt128(p.Key.Value);
                        writer.WriteByte(index.IsGraph ? GraphKind : FlatKind);
                        index.WriteTo(writer);
                        written++;
                    }
                    finally
                    {
                        Exit(p.Key, p.Value);
                    }
                }

                byte[] header = BuildHeader(written, writer.BodyLength, writer.Checksum);
                stream.Position = 0;
                stream.Write(header);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        finally
        {
            _gate.ExitWriteLock();
        }
    }

    /// <summary>
    /// Loads a snapshot written by <see cref="Save"/>: arrays are read straight into the index structures (no graph
    /// rebuild). The whole file is checked (header hash, length, body hash) before the collection is returned, so a
    /// truncated or damaged file never yields a partly loaded collection.
    /// </summary>
    /// <param name="path">The snapshot file.</param>
    /// <param name="rescoreStorageDirectory">Overrides <see cref="VectorIndexOptions.RescoreStorageDirectory"/> (not stored in the file).</param>
    /// <returns>The loaded collection.</returns>
    /// <exception cref="InvalidDataException">The file is not a snapshot, is of another version, or is truncated or corrupt.</exception>
    public static PartitionedIndex Load(string path, string? rescoreStorageDirectory = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Snapshots are little-endian.");
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        Span<byte> header = stackalloc byte[HeaderSize];
        if (stream.Length < HeaderSize)
        {
            ThrowHelper.Truncated("the file is shorter than the header.");
        }

        stream.ReadExactly(header);
        if (BinaryPrimitives.ReadUInt64LittleEndian(header) != Magic)
        {
            ThrowHelper.Corrupt("not a SemCache index snapshot (bad magic).");
        }

        if (XxHash64.HashToUInt64(header[..72]) != BinaryPrimitives.ReadUInt64LittleEndian(header[72..]))
        {
            ThrowHelper.Corrupt("header checksum mismatch.");
        }

        int version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        if (version != FormatVersion)
        {
            throw new InvalidDataException($"Snapshot format version {version} is not supported (expected {FormatVersion}).");
        }

        var options = new VectorIndexOptions
        {
            Dimension = BinaryPrimitives.ReadInt32LittleEndian(header[16..]),
            M = BinaryPrimitives.ReadInt32LittleEndian(header[20..]),
            EfConstruction = BinaryPrimitives.ReadInt32LittleEndian(header[24..]),
            EfSearch = BinaryPrimitives.ReadInt32LittleEndian(header[28..]),
            FlatScanThreshold = BinaryPrimitives.ReadInt32LittleEndian(header[32..]),
            Quantization = (VectorQuantization)BinaryPrimitives.ReadInt32LittleEndian(header[36..]),
            RandomSeed = BinaryPrimitives.ReadUInt64LittleEndian(header[40..]),
            RescoreStorageDirectory = rescoreStorageDirectory,
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new InvalidDataException("Snapshot is corrupt: invalid options in header.", e);
        }

        int partitionCount = BinaryPrimitives.ReadInt32LittleEndian(header[48..]);
        long bodyLength = BinaryPrimitives.ReadInt64LittleEndian(header[56..]);
        ulong checksum = BinaryPrimitives.ReadUInt64LittleEndian(header[64..]);
        if (stream.Length < HeaderSize + bodyLength)
        {
            ThrowHelper.Truncated($"the body should be {bodyLength} bytes, the file holds {stream.Length - HeaderSize}.");
        }

        if (stream.Length > HeaderSize + bodyLength || partitionCount < 0)
        {
            ThrowHelper.Corrupt("file length does not match the header.");
        }

        var collection = new PartitionedIndex(options);
        try
        {
            var reader = new SnapshotReader(stream, bodyLength);
            for (int i = 0; i < partitionCount; i++)
            {
                var key = new PartitionKey(reader.ReadUInt128());
                IVectorPartitionIndex index = reader.ReadByte() switch
                {
                    FlatKind => FlatIndex.ReadFrom(reader, options),
                    GraphKind => HnswIndex.ReadFrom(reader, options),
                    _ => throw new InvalidDataException("Snapshot is corrupt: unknown partition kind."),
                };
                if (index.Count == 0)
                {
                    index.Dispose(); // an emptied partition saved by an older build: partitions exist only while they hold vectors
                    continue;
                }

                if (!collection._partitions.TryAdd(key, new PartitionSlot(index)))
                {
                    index.Dispose();
                    ThrowHelper.Corrupt("a partition key appears twice.");
                }
            }

            if (reader.Remaining != 0)
            {
                ThrowHelper.Corrupt("bytes left after the last partition.");
            }

            if (reader.Checksum != checksum)
            {
                ThrowHelper.Corrupt("body checksum mismatch.");
            }

            return collection;
        }
        catch (Exception e) when (e is not InvalidDataException and not IOException and not OutOfMemoryException)
        {
            collection.Dispose();
            throw new InvalidDataException("Snapshot is corrupt: " + e.Message, e);
        }
        catch
        {
            collection.Dispose();
            throw;
        }
    }

    private byte[] BuildHeader(int partitionCount, long bodyLength, ulong checksum)
    {
        byte[] h = new byte[HeaderSize];
        Span<byte> s = h;
        BinaryPrimitives.WriteUInt64LittleEndian(s, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(s[8..], FormatVersion);
        BinaryPrimitives.WriteInt32LittleEndian(s[12..], HeaderSize);
        BinaryPrimitives.WriteInt32LittleEndian(s[16..], Options.Dimension);
        BinaryPrimitives.WriteInt32LittleEndian(s[20..], Options.M);
        BinaryPrimitives.WriteInt32LittleEndian(s[24..], Options.EfConstruction);
        BinaryPrimitives.WriteInt32LittleEndian(s[28..], Options.EfSearch);
        BinaryPrimitives.WriteInt32LittleEndian(s[32..], Options.FlatScanThreshold);
        BinaryPrimitives.WriteInt32LittleEndian(s[36..], (int)Options.Quantization);
        BinaryPrimitives.WriteUInt64LittleEndian(s[40..], Options.RandomSeed);
        BinaryPrimitives.WriteInt32LittleEndian(s[48..], partitionCount);
        BinaryPrimitives.WriteInt64LittleEndian(s[56..], bodyLength);
        BinaryPrimitives.WriteUInt64LittleEndian(s[64..], checksum);
        BinaryPrimitives.WriteUInt64LittleEndian(s[72..], XxHash64.HashToUInt64(s[..72]));
        return h;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
