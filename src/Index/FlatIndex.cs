using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SemCache.Index;

/// <summary>
/// Exact search for small partitions: rows in one array scanned with the SIMD dot product. It costs only its rows
/// (no graph, no map), so thousands of small partitions stay cheap. Writers serialise on a lock; readers take none and
/// use a sequence counter (seqlock, see <see cref="Search"/>): a search that overlapped a write is simply run again.
/// The add that brings it to <see cref="VectorIndexOptions.FlatScanThreshold"/> rows builds an <see cref="HnswIndex"/>
/// from them and publishes it as <see cref="Successor"/>; from then on every write here answers
/// <see cref="WriteOutcome.Superseded"/>, while searches keep reading the (unchanging) rows until the partition
/// switches over.
/// </summary>
internal sealed class FlatIndex : IVectorPartitionIndex
{
    private const int MinCapacity = 4;
    private const int ShrinkAbove = 16;

    private readonly VectorIndexOptions _options;
    private readonly int _dimension;
    private readonly Lock _writeLock = new();
    private float[] _vectors;
    private long[] _ids;
    private int _count;
    private int _sequence; // odd while a write is in progress
    private HnswIndex? _successor;

    public FlatIndex(VectorIndexOptions options, int capacity = MinCapacity)
    {
        _options = options;
        _dimension = options.Dimension;
        capacity = Math.Max(capacity, 1);
        _vectors = new float[capacity * _dimension];
        _ids = new long[capacity];
    }

    public int Count => Volatile.Read(ref _count);

    public bool IsGraph => false;

    public IVectorPartitionIndex? Successor => Volatile.Read(ref _successor);

    public long MemoryBytes => ((long)_vectors.Length * 4) + ((long)_ids.Length * 8) + 64;

    public IndexMemory Memory => new(Vectors: (long)_vectors.Length * 4, MappedVectors: 0, QuantizedCodes: 0, Level0Links: 0, UpperLinks: 0, NodeState: 0, IdMap: (long)_ids.Length * 8, Partitions: 64);

    [SkipLocalsInit]
    public WriteOutcome TryAdd(long id, ReadOnlySpan<float> vector)
    {
        Span<float> normalized = _dimension <= 1024 ? stackalloc float[_dimension] : new float[_dimension];
        VectorMath.ValidateAndNormalize(vector, normalized, nameof(vector));
        lock (_writeLock)
        {
            if (_successor is not null)
            {
                return WriteOutcome.Superseded;
            }

            if (!TryAddLocked(id, normalized))
            {
                return WriteOutcome.Unchanged;
            }

            if (_options.FlatScanThreshold > 0 && _count >= _options.FlatScanThreshold)
            {
                // Built under the write lock: other writers wait, searches keep using the rows, which no longer change.
                Volatile.Write(ref _successor, BuildGraph());
            }

            return WriteOutcome.Applied;
        }
    }

    public WriteOutcome Remove(long id)
    {
        lock (_writeLock)
        {
            if (_successor is not null)
            {
                return WriteOutcome.Superseded;
            }

            return RemoveLocked(id) ? WriteOutcome.Applied : WriteOutcome.Unchanged;
        }
    }

    private bool TryAddLocked(long id, ReadOnlySpan<float> normalized)
    {
        if (IndexOf(id) >= 0)
        {
            return false;
        }

        BeginWrite();
        try
        {
            if (_count == _ids.Length)
            {
                int capacity = _ids.Length * 2;
                float[] vectors = new float[capacity * _dimension];
                long[] ids = new long[capacity];
                _vectors.AsSpan().CopyTo(vectors);
                _ids.AsSpan().CopyTo(ids);
                _vectors = vectors;
                _ids = ids;
            }

            normalized.CopyTo(_vectors.AsSpan(_count * _dimension, _dimension));
            _ids[_count] = id;
            Volatile.Write(ref _count, _count + 1);
        }
        finally
        {
            EndWrite();
        }

        return true;
    }

    /// <summary>Removes by moving the last row into the hole; caller holds the write lock.</summary>
    private bool RemoveLocked(long id)
    {
        int row = IndexOf(id);
        if (row < 0)
        {
            return false;
        }

        BeginWrite();
        try
        {
            int last = _count - 1;
            if (row != last)
            {
                _vectors.AsSpan(last * _dimension, _dimension).CopyTo(_vectors.AsSpan(row * _dimension, _dimension));
                _ids[row] = _ids[last];
            }

            Volatile.Write(ref _count, last);
            if (last > 0 && _ids.Length > ShrinkAbove && last * 4 <= _ids.Length)
            {
                // A quarter full: halve, so a partition that once held many rows gives them back as it shrinks
                // (growth doubles, so an add/remove cycle at a boundary does not reallocate every time). Not when
                // emptied (the partition is retired and freed whole) nor for a few rows (a reallocation per remove
                // of a small conversation would cost more than the rows it saves).
                int capacity = _ids.Length / 2;
                float[] vectors = new float[capacity * _dimension];
                long[] ids = new long[capacity];
                _vectors.AsSpan(0, last * _dimension).CopyTo(vectors);
                _ids.AsSpan(0, last).CopyTo(ids);
                _vectors = vectors;
                _ids = ids;
            }
        }
        finally
        {
            EndWrite();
        }

        return true;
    }

    public bool Contains(long id)
    {
        while (true)
        {
            int seq = BeginRead();
            bool found = IndexOf(id) >= 0;
            if (ValidateRead(seq))
            {
                return found;
            }
        }
    }

    public bool TryGetVector(long id, Span<float> destination)
    {
        lock (_writeLock)
        {
            int row = IndexOf(id);
            if (row < 0)
            {
                return false;
            }

            _vectors.AsSpan(row * _dimension, _dimension).CopyTo(destination);
            return true;
        }
    }

    public IEnumerable<long> EnumerateIds()
    {
        lock (_writeLock)
        {
            return _ids.AsSpan(0, _count).ToArray();
        }
    }

    public IEnumerable<StoredVector> EnumerateVectors()
    {
        lock (_writeLock)
        {
            var list = new List<StoredVector>(_count);
            for (int i = 0; i < _count; i++)
            {
                list.Add(new StoredVector(_ids[i], _vectors.AsSpan(i * _dimension, _dimension).ToArray()));
            }

            return list;
        }
    }

    private int IndexOf(long id) => Array.IndexOf(_ids, id, 0, Math.Min(Volatile.Read(ref _count), _ids.Length));

    // The seqlock. Per the .NET memory model (docs/design/specs/Memory-model.md in dotnet/runtime) a volatile read is
    // an acquire: later accesses cannot move before it, but EARLIER ones may move after it. On x64 (TSO) loads are not
    // reordered with loads, so a bare acquire re-check happens to work; on ARM64 the row loads of a search may be
    // satisfied after the re-check, see a write that began after it, and be accepted as consistent. The protocol:
    //   writer (under _writeLock): Interlocked.Increment (odd; a full fence, so no data store moves above it),
    //                              data stores, Volatile.Write of the next even value (release: none moves below it);
    //   reader: Volatile.Read until even (acquire: no data load moves above it), plain data loads,
    //           Interlocked.MemoryBarrier (no data load moves below it), Volatile.Read and compare: equal means no
    //           write overlapped the loads, so they are a consistent state; otherwise read again.
    // Data loads are of whole ints/floats/longs/references, which the runtime never tears, so a torn row can only be
    // one the re-check rejects.
    private void BeginWrite() => Interlocked.Increment(ref _sequence);

    private void EndWrite() => Volatile.Write(ref _sequence, _sequence + 1);

    private int BeginRead()
    {
        int seq = Volatile.Read(ref _sequence);
        while ((seq & 1) != 0)
        {
            Thread.SpinWait(8);
            seq = Volatile.Read(ref _sequence);
        }

        return seq;
    }

    private bool ValidateRead(int seq)
    {
        Interlocked.MemoryBarrier();
        return Volatile.Read(ref _sequence) == seq;
    }

    /// <summary>Exact top-k over all rows (<paramref name="efSearch"/> is not used: the scan is exact).</summary>
    [SkipLocalsInit]
    public int Search(ReadOnlySpan<float> query, int k, Span<SearchResult> destination, int efSearch)
    {
        Span<float> normalized = _dimension <= 1024 ? stackalloc float[_dimension] : new float[_dimension];
        VectorMath.ValidateAndNormalize(query, normalized, nameof(query));
        return SearchNormalized(normalized, k, destination);
    }

    private int SearchNormalized(ReadOnlySpan<float> query, int k, Span<SearchResult> destination)
    {
        SearchScratch scratch = SearchScratch.Current;
        while (true)
        {
            int seq = BeginRead();
            float[] vectors = _vectors;
            long[] ids = _ids;
            int count = Math.Min(Math.Min(Volatile.Read(ref _count), ids.Length), vectors.Length / _dimension);

            // Top-k with a size-k min-heap (worst on top), reusing the search scratch.
            scratch.ResultCount = 0;
            ref float q = ref MemoryMarshal.GetReference(query);
            ref float rows = ref MemoryMarshal.GetArrayDataReference(vectors);
            for (int i = 0; i < count; i++)
            {
                float sim = VectorMath.Dot(ref q, ref Unsafe.Add(ref rows, (nint)i * _dimension), _dimension);
                if (scratch.ResultCount < k)
                {
                    scratch.PushResult(sim, i);
                }
                else if (sim > scratch.Results[0].Sim)
                {
                    scratch.PopResult();
                    scratch.PushResult(sim, i);
                }
            }

            int n = scratch.ResultCount;
            for (int i = n - 1; i >= 0; i--)
            {
                Candidate c = scratch.PopResult();
                destination[i] = new SearchResult(ids[c.Slot], c.Sim);
            }

            if (ValidateRead(seq))
            {
                return n;
            }
        }
    }

    /// <summary>Builds a graph over the rows; caller holds the write lock.</summary>
    private HnswIndex BuildGraph()
    {
        var graph = new HnswIndex(_options);
        for (int i = 0; i < _count; i++)
        {
            graph.Add(_ids[i], _vectors.AsSpan(i * _dimension, _dimension));
        }

        return graph;
    }

    public void WriteTo(SnapshotWriter writer)
    {
        lock (_writeLock)
        {
            writer.WriteInt32(_count);
            writer.Write<long>(_ids.AsSpan(0, _count));
            writer.Write<float>(_vectors.AsSpan(0, _count * _dimension));
        }
    }

    internal static FlatIndex ReadFrom(SnapshotReader reader, VectorIndexOptions options)
    {
        int dimension = options.Dimension;
        int count = reader.ReadCount(8 + (4L * dimension));
        var flat = new FlatIndex(options, Math.Max(MinCapacity, count));
        reader.Read<long>(flat._ids.AsSpan(0, count));
        reader.Read<float>(flat._vectors.AsSpan(0, count * dimension));
        for (int i = 1; i < count; i++)
        {
            if (Array.IndexOf(flat._ids, flat._ids[i], 0, i) >= 0)
            {
                ThrowHelper.Corrupt("an id appears twice.");
            }
        }

        flat._count = count;
        return flat;
    }

    /// <summary>Nothing to release: the rows are managed arrays.</summary>
    public void Dispose()
    {
    }
}
