using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Hashing;

namespace SemCache.Index;

/// <summary>
/// Many independent indexes ("partitions") keyed by a <see cref="PartitionKey"/>, all with the same options. A
/// partition below <see cref="VectorIndexOptions.FlatScanThreshold"/> vectors is an exact flat scan, which is faster
/// than a graph at that size and costs only its rows; the insert that brings it to the threshold rebuilds it into an
/// <see cref="HnswIndex"/> (the partition stays searchable meanwhile). Graph partitions do not go back to flat scans.
/// </summary>
/// <remarks>
/// Every member may be called concurrently. Searches take no lock. <see cref="Save"/> blocks writers (not searches)
/// while it writes, so the snapshot is a consistent point in time.
/// </remarks>
public sealed class PartitionedIndex : IDisposable
{
    private const ulong Magic = 0x315844_4943_4D45_53UL; // "SEMCIDX1" little-endian
    private const int FormatVersion = 1;
    private const int HeaderSize = 80;

    private readonly ConcurrentDictionary<PartitionKey, Partition> _partitions = new();
    private readonly ReaderWriterLockSlim _gate = new(LockRecursionPolicy.NoRecursion);
    private int _disposed;

    /// <summary>Creates an empty collection.</summary>
    /// <param name="options">Options of every partition; validated here.</param>
    public PartitionedIndex(VectorIndexOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
    }

    /// <summary>The options shared by all partitions.</summary>
    public VectorIndexOptions Options { get; }

    /// <summary>Number of partitions (including ones emptied by removes, until <see cref="RemovePartition"/>).</summary>
    public int PartitionCount => _partitions.Count;

    /// <summary>Total number of vectors over all partitions.</summary>
    public long Count
    {
        get
        {
            long total = 0;
            foreach (KeyValuePair<PartitionKey, Partition> p in _partitions)
            {
                total += p.Value.Count;
            }

            return total;
        }
    }

    /// <summary>The keys of all partitions.</summary>
    public IEnumerable<PartitionKey> PartitionKeys => _partitions.Keys;

    /// <summary>Adds a vector to a partition (created on first use).</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="id">Caller-chosen id, unique within the partition.</param>
    /// <param name="vector">The vector; normalised to unit length if it is not.</param>
    /// <exception cref="ArgumentException">Wrong dimension, non-finite or zero vector, or a duplicate id.</exception>
    public void Add(PartitionKey partition, long id, ReadOnlySpan<float> vector)
    {
        if (!TryAdd(partition, id, vector))
        {
            ThrowHelper.DuplicateId(id);
        }
    }

    /// <summary>Adds a vector to a partition unless the id is already there.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="id">Caller-chosen id.</param>
    /// <param name="vector">The vector; normalised to unit length if it is not.</param>
    /// <returns><see langword="false"/> when the partition already holds <paramref name="id"/>.</returns>
    public bool TryAdd(PartitionKey partition, long id, ReadOnlySpan<float> vector)
    {
        ThrowIfDisposed();
        if (vector.Length != Options.Dimension)
        {
            ThrowHelper.DimensionMismatch(nameof(vector), Options.Dimension, vector.Length);
        }

        _gate.EnterReadLock();
        try
        {
            Partition p = _partitions.GetOrAdd(partition, static (_, o) => new Partition(o), Options);
            return p.TryAdd(id, vector, Options);
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>Removes a vector from a partition.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="id">The id.</param>
    /// <returns><see langword="false"/> when the partition or the id does not exist.</returns>
    public bool Remove(PartitionKey partition, long id)
    {
        ThrowIfDisposed();
        _gate.EnterReadLock();
        try
        {
            return _partitions.TryGetValue(partition, out Partition? p) && p.Remove(id);
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>Drops a whole partition.</summary>
    /// <param name="partition">The partition.</param>
    /// <returns><see langword="false"/> when it did not exist.</returns>
    public bool RemovePartition(PartitionKey partition)
    {
        ThrowIfDisposed();
        _gate.EnterReadLock();
        try
        {
            if (_partitions.TryRemove(partition, out Partition? p))
            {
                p.Dispose();
                return true;
            }

            return false;
        }
        finally
        {
            _gate.ExitReadLock();
        }
    }

    /// <summary>Tells whether a partition holds <paramref name="id"/>.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="id">The id.</param>
    /// <returns><see langword="true"/> when present.</returns>
    public bool Contains(PartitionKey partition, long id) =>
        _partitions.TryGetValue(partition, out Partition? p) && p.Contains(id);

    /// <summary>Number of vectors in one partition (0 when it does not exist).</summary>
    /// <param name="partition">The partition.</param>
    /// <returns>The count.</returns>
    public int CountOf(PartitionKey partition) => _partitions.TryGetValue(partition, out Partition? p) ? p.Count : 0;

    /// <summary>Whether a partition is currently an HNSW graph (<see langword="false"/>: a flat scan, or absent).</summary>
    /// <param name="partition">The partition.</param>
    /// <returns><see langword="true"/> for a graph.</returns>
    public bool IsGraph(PartitionKey partition) => _partitions.TryGetValue(partition, out Partition? p) && p.Graph is not null;

    /// <summary>Copies the stored vector of an id into <paramref name="destination"/>.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="id">The id.</param>
    /// <param name="destination">At least <see cref="VectorIndexOptions.Dimension"/> floats.</param>
    /// <returns><see langword="false"/> when absent.</returns>
    public bool TryGetVector(PartitionKey partition, long id, Span<float> destination) =>
        _partitions.TryGetValue(partition, out Partition? p) && p.TryGetVector(id, destination);

    /// <summary>Enumerates the entries of a partition with copies of their vectors (for cross-checking a store).</summary>
    /// <param name="partition">The partition.</param>
    /// <returns>The entries; empty when the partition does not exist.</returns>
    public IEnumerable<StoredVector> EnumerateVectors(PartitionKey partition) =>
        _partitions.TryGetValue(partition, out Partition? p) ? p.EnumerateVectors() : [];

    /// <summary>Finds the <paramref name="k"/> nearest vectors of a partition.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="query">The query vector (normalised if it is not unit length).</param>
    /// <param name="k">Number of neighbours wanted, at least 1.</param>
    /// <param name="destination">Room for at least <paramref name="k"/> results; filled most similar first.</param>
    /// <param name="efSearch">HNSW efSearch for graph partitions; 0 means <see cref="VectorIndexOptions.EfSearch"/>.</param>
    /// <returns>Number of results written (fewer than <paramref name="k"/> when the partition holds fewer; 0 when absent).</returns>
    public int Search(PartitionKey partition, ReadOnlySpan<float> query, int k, Span<SearchResult> destination, int efSearch = 0)
    {
        ThrowIfDisposed();
        if (efSearch < 0)
        {
            ThrowHelper.EfOutOfRange(efSearch);
        }

        int ef = efSearch == 0 ? Options.EfSearch : efSearch;
        HnswIndex.ValidateSearch(query, k, destination, ef, Options.Dimension);
        return _partitions.TryGetValue(partition, out Partition? p) ? p.Search(query, k, destination, ef) : 0;
    }

    /// <summary>Finds the <paramref name="k"/> nearest vectors of a partition.</summary>
    /// <param name="partition">The partition.</param>
    /// <param name="query">The query vector.</param>
    /// <param name="k">Number of neighbours wanted, at least 1.</param>
    /// <returns>Up to <paramref name="k"/> results, most similar first.</returns>
    public SearchResult[] Search(PartitionKey partition, ReadOnlySpan<float> query, int k)
    {
        if (k < 1)
        {
            ThrowHelper.KOutOfRange(k);
        }

        var buffer = new SearchResult[Math.Max(1, Math.Min(k, CountOf(partition)))];
        int n = Search(partition, query, buffer.Length, buffer);
        return n == buffer.Length ? buffer : buffer[..n];
    }

    /// <summary>Bytes of memory held by the partitions' vectors, graphs and maps (an estimate from array sizes).</summary>
    /// <returns>The total.</returns>
    public long EstimateMemoryBytes()
    {
        long total = 0;
        foreach (KeyValuePair<PartitionKey, Partition> p in _partitions)
        {
            total += p.Value.MemoryBytes + 64;
        }

        return total;
    }

    // ------------------------------------------------------------------ snapshots

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
                KeyValuePair<PartitionKey, Partition>[] partitions = [.. _partitions];
                foreach ((PartitionKey key, Partition partition) in partitions)
                {
                    writer.WriteUInt128(key.Value);
                    partition.WriteTo(writer);
                }

                byte[] header = BuildHeader(partitions.Length, writer.BodyLength, writer.Checksum);
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
                Partition partition = Partition.ReadFrom(reader, options);
                if (!collection._partitions.TryAdd(key, partition))
                {
                    partition.Dispose();
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

    private void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            ThrowHelper.Disposed(nameof(PartitionedIndex));
        }
    }

    /// <summary>Releases every partition (and their memory-mapped files, if any).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (KeyValuePair<PartitionKey, Partition> p in _partitions)
        {
            p.Value.Dispose();
        }

        _partitions.Clear();
        _gate.Dispose();
    }

    /// <summary>One partition: a flat scan that is swapped for a graph once, when it reaches the threshold.</summary>
    private sealed class Partition : IDisposable
    {
        private volatile object _impl;

        public Partition(VectorIndexOptions options) =>
            _impl = options.FlatScanThreshold == 0 ? new HnswIndex(options) : new FlatIndex(options.Dimension);

        private Partition(object impl) => _impl = impl;

        public HnswIndex? Graph => _impl as HnswIndex;

        public int Count => _impl is HnswIndex g ? g.Count : ((FlatIndex)_impl).Count;

        public long MemoryBytes => _impl is HnswIndex g ? g.MemoryBytes() : ((FlatIndex)_impl).MemoryBytes;

        [System.Runtime.CompilerServices.SkipLocalsInit]
        public bool TryAdd(long id, ReadOnlySpan<float> vector, VectorIndexOptions options)
        {
            Span<float> normalized = options.Dimension <= 2048 ? stackalloc float[options.Dimension] : new float[options.Dimension];
            bool validated = false;
            while (true)
            {
                object impl = _impl;
                if (impl is HnswIndex graph)
                {
                    return graph.TryAdd(id, vector);
                }

                var flat = (FlatIndex)impl;
                if (!validated)
                {
                    VectorMath.ValidateAndNormalize(vector, normalized, nameof(vector));
                    validated = true;
                }

                lock (flat.WriteLock)
                {
                    if (flat.Retired)
                    {
                        continue; // upgraded meanwhile: go to the graph
                    }

                    if (!flat.TryAddLocked(id, normalized))
                    {
                        return false;
                    }

                    if (flat.Count >= options.FlatScanThreshold)
                    {
                        // Built under the flat's write lock: other writers wait, searches keep using the flat rows.
                        HnswIndex graph2 = flat.BuildGraph(options);
                        _impl = graph2;
                        flat.Retire();
                    }

                    return true;
                }
            }
        }

        public bool Remove(long id)
        {
            while (true)
            {
                object impl = _impl;
                if (impl is HnswIndex graph)
                {
                    return graph.Remove(id);
                }

                var flat = (FlatIndex)impl;
                lock (flat.WriteLock)
                {
                    if (flat.Retired)
                    {
                        continue;
                    }

                    return flat.RemoveLocked(id);
                }
            }
        }

        public bool Contains(long id) => _impl is HnswIndex g ? g.Contains(id) : ((FlatIndex)_impl).Contains(id);

        public bool TryGetVector(long id, Span<float> destination) =>
            _impl is HnswIndex g ? g.TryGetVector(id, destination) : ((FlatIndex)_impl).TryGetVector(id, destination);

        public IEnumerable<StoredVector> EnumerateVectors() =>
            _impl is HnswIndex g ? g.EnumerateVectors() : ((FlatIndex)_impl).Snapshot();

        public int Search(ReadOnlySpan<float> query, int k, Span<SearchResult> destination, int efSearch)
        {
            object impl = _impl;
            if (impl is HnswIndex graph)
            {
                return graph.Search(query, k, destination, efSearch);
            }

            var flat = (FlatIndex)impl;
            int dimension = query.Length;
            Span<float> normalized = dimension <= 1024 ? stackalloc float[dimension] : new float[dimension];
            VectorMath.ValidateAndNormalize(query, normalized, nameof(query));
            return flat.Search(normalized, k, destination);
        }

        public void WriteTo(SnapshotWriter writer)
        {
            object impl = _impl;
            if (impl is HnswIndex graph)
            {
                writer.WriteByte(1);
                graph.WriteTo(writer);
            }
            else
            {
                writer.WriteByte(0);
                ((FlatIndex)impl).WriteTo(writer);
            }
        }

        public static Partition ReadFrom(SnapshotReader reader, VectorIndexOptions options)
        {
            byte kind = reader.ReadByte();
            return kind switch
            {
                0 => new Partition(FlatIndex.ReadFrom(reader, options.Dimension)),
                1 => new Partition(HnswIndex.ReadFrom(reader, options)),
                _ => throw new InvalidDataException("Snapshot is corrupt: unknown partition kind."),
            };
        }

        public void Dispose()
        {
            if (_impl is HnswIndex g)
            {
                g.Dispose();
            }
        }
    }
}
