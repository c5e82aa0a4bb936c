using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace SemCache.Index;

/// <summary>
/// One HNSW graph (Malkov &amp; Yashunin, "Efficient and robust approximate nearest neighbor search using Hierarchical
/// Navigable Small World graphs", 2016/2018) over unit vectors, with cosine similarity as the dot product.
/// </summary>
/// <remarks>
/// <para>Thread safety: every member may be called concurrently. Searches take no lock; inserts and removes lock
/// one node at a time (a spin-lock word per node) while they rewrite its neighbour list, and take a global lock only
/// when the entry point or the top level changes. Searches read neighbour lists optimistically: a list being
/// rewritten can be seen half old, half new, which only costs a detour, since every slot in it is a valid node.</para>
/// <para>Removes are real: the node stops being returned at once, every neighbour that linked to it is reconnected
/// with the heuristic of Algorithm 4 over its own and the removed node's neighbours (as hnswlib's
/// <c>repairConnectionsForUpdate</c> does), and its slot is reused by a later insert.</para>
/// <para>Vectors are normalised to unit length on insert when they are not already (within 1e-4); queries are
/// normalised too, so similarities are cosines.</para>
/// <para>The class is split along its seams: this file holds the state and the public surface; <c>.Storage</c> the
/// chunks, slots and neighbour lists; <c>.Spaces</c> the similarity kernels' query side; <c>.Search</c> Algorithms 2
/// and 5; <c>.Insert</c> Algorithms 1 and 4; <c>.Remove</c> deletion with repair; <c>.Snapshot</c> the file format;
/// <c>.Diagnostics</c> the invariant checks used by tests.</para>
/// </remarks>
public sealed unsafe partial class HnswIndex : IDisposable, IVectorPartitionIndex
{
    internal const int ChunkShift = 10;
    internal const int ChunkSize = 1 << ChunkShift;
    internal const int MaxLevel = 30;
    private const int ChunkMask = ChunkSize - 1;
    private const int IdLockStripes = 64;

    private readonly int _dimension;
    private readonly int _m;
    private readonly int _m0;
    private readonly int _level0Stride;
    private readonly int _upperStride;
    private readonly int _efConstruction;
    private readonly bool _int8;
    private readonly double _levelMultiplier;
    private readonly string? _rescoreDirectory;

    // Chunk directory; replaced (never mutated in place) when it grows, so readers holding the old one stay valid.
    private volatile NodeChunk?[] _chunks = [];

    private readonly Lock _slotLock = new();
    private readonly Stack<int> _freeSlots = new();
    private int _highWater;
    private int _count;

    // Entry point and top level packed in one word so that readers see a consistent pair: (maxLevel << 32) | ep.
    private long _entry = Pack(-1, -1);
    private readonly Lock _entryLock = new();

    // Serialises Add/Remove of the same id (not of different ids).
    private readonly Lock[] _idLocks;

    // Shared by Add/Remove, exclusive for Save: a snapshot sees no half-done insert. Searches never take it.
    private readonly ReaderWriterLockSlim _mutationGate = new(LockRecursionPolicy.NoRecursion);

    private long _levelCounter;
    private readonly ulong _seed;
    private int _disposed;

    /// <summary>Creates an empty graph.</summary>
    /// <param name="options">Dimension and HNSW parameters; validated here.</param>
    public HnswIndex(VectorIndexOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _dimension = options.Dimension;
        _m = options.M;
        _m0 = 2 * options.M;
        _level0Stride = 1 + _m0;
        _upperStride = 1 + _m;
        _efConstruction = Math.Max(options.EfConstruction, options.M);
        _int8 = options.Quantization == VectorQuantization.Int8;
        _rescoreDirectory = options.RescoreStorageDirectory;
        _levelMultiplier = 1.0 / Math.Log(options.M);
        _seed = options.RandomSeed;
        _idLocks = new Lock[IdLockStripes];
        for (int i = 0; i < _idLocks.Length; i++)
        {
            _idLocks[i] = new Lock();
        }

        if (options.InitialCapacity > 0)
        {
            lock (_slotLock)
            {
                EnsureChunk((options.InitialCapacity - 1) >> ChunkShift);
            }
        }
    }

    /// <summary>The options this graph was created with.</summary>
    public VectorIndexOptions Options { get; }

    /// <summary>Number of components of every vector.</summary>
    public int Dimension => _dimension;

    /// <summary>Number of live (added and not removed) vectors.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Number of slots ever used (live + free for reuse); storage is allocated for this many and more.</summary>
    internal int SlotHighWater => Volatile.Read(ref _highWater);

    internal int FreeSlotCount
    {
        get
        {
            lock (_slotLock)
            {
                return _freeSlots.Count;
            }
        }
    }

    internal (int EntryPoint, int MaxLevel) Entry
    {
        get
        {
            long e = Volatile.Read(ref _entry);
            return (EntryOf(e), LevelOf(e));
        }
    }

    /// <summary>Adds a vector under a new id.</summary>
    /// <param name="id">Caller-chosen id, unique in this index.</param>
    /// <param name="vector">The vector; normalised to unit length if it is not.</param>
    /// <exception cref="ArgumentException">Wrong dimension, a non-finite or all-zero vector, or an id already present.</exception>
    public void Add(long id, ReadOnlySpan<float> vector)
    {
        if (!TryAdd(id, vector))
        {
            ThrowHelper.DuplicateId(id);
        }
    }

    /// <summary>Adds a vector unless its id is already present.</summary>
    /// <param name="id">Caller-chosen id.</param>
    /// <param name="vector">The vector; normalised to unit length if it is not.</param>
    /// <returns><see langword="false"/> when the id is already in the index (nothing changes).</returns>
    /// <exception cref="ArgumentException">Wrong dimension, or a non-finite or all-zero vector.</exception>
    [SkipLocalsInit]
    public bool TryAdd(long id, ReadOnlySpan<float> vector)
    {
        ThrowIfDisposed();
        if (vector.Length != _dimension)
        {
            ThrowHelper.DimensionMismatch(nameof(vector), _dimension, vector.Length);
        }

        SearchScratch scratch = SearchScratch.Current;
        float* normalized = scratch.QueryPointer(_dimension);
        VectorMath.ValidateAndNormalize(vector, new Span<float>(normalized, _dimension), nameof(vector));

        _mutationGate.EnterReadLock();
        try
        {
            lock (IdLock(id))
            {
                int slot;
                lock (_slotLock)
                {
                    if (MapTryGet(id, out _))
                    {
                        return false;
                    }

                    slot = AllocateSlot();
                }

                // Mapped once its id is written (the map reads ids from the chunks); Add and Remove of this id wait on
                // IdLock meanwhile, so nobody else can add it twice.
                int level = RandomLevel();
                InitializeNode(slot, id, level, normalized);
                lock (_slotLock)
                {
                    MapAdd(id, slot);
                }

                Link(slot, level, scratch);
                Interlocked.Increment(ref _count);
                return true;
            }
        }
        finally
        {
            _mutationGate.ExitReadLock();
        }
    }

    /// <summary>Removes a vector; it is never returned by a search that starts after this call returns.</summary>
    /// <param name="id">The id given to <see cref="Add"/>.</param>
    /// <returns><see langword="false"/> when the id is not in the index.</returns>
    public bool Remove(long id)
    {
        ThrowIfDisposed();
        _mutationGate.EnterReadLock();
        try
        {
            lock (IdLock(id))
            {
                int slot;
                lock (_slotLock)
                {
                    if (!MapRemove(id, out slot))
                    {
                        return false;
                    }
                }

                NodeChunk chunk = ChunkOf(slot);
                int i = slot & ChunkMask;
                Volatile.Write(ref chunk.States[i], NodeChunk.Deleted);
                Interlocked.Decrement(ref _count);

                ReplaceEntryPointIfRemoved(slot);
                Unlink(slot);

                lock (_slotLock)
                {
                    // Before the slot can be refilled: readers still holding it see the bump and drop what they read.
                    Volatile.Write(ref chunk.Generations[i], chunk.Generations[i] + 1);
                    Volatile.Write(ref chunk.States[i], NodeChunk.Free);
                    _freeSlots.Push(slot);
                }

                return true;
            }
        }
        finally
        {
            _mutationGate.ExitReadLock();
        }
    }

    /// <summary>Tells whether <paramref name="id"/> is in the index.</summary>
    /// <param name="id">The id to look for.</param>
    /// <returns><see langword="true"/> when present.</returns>
    public bool Contains(long id)
    {
        lock (_slotLock)
        {
            return MapTryGet(id, out _);
        }
    }

    /// <summary>Copies the stored (normalised) vector of <paramref name="id"/> into <paramref name="destination"/>.</summary>
    /// <param name="id">The id to look up.</param>
    /// <param name="destination">At least <see cref="Dimension"/> floats.</param>
    /// <returns><see langword="false"/> when the id is not in the index.</returns>
    public bool TryGetVector(long id, Span<float> destination)
    {
        if (destination.Length < _dimension)
        {
            ThrowHelper.DimensionMismatch(nameof(destination), _dimension, destination.Length);
        }

        _mutationGate.EnterReadLock();
        try
        {
            while (true)
            {
                int slot;
                lock (_slotLock)
                {
                    if (!MapTryGet(id, out slot))
                    {
                        return false;
                    }
                }

                // A concurrent remove of this id can free the slot and an insert refill it while we copy.
                NodeChunk chunk = ChunkOf(slot);
                int i = slot & ChunkMask;
                uint generation = BeginSlotRead(chunk, i);
                bool same = Volatile.Read(ref chunk.Ids[i]) == id;
                new ReadOnlySpan<float>(FloatRow(slot), _dimension).CopyTo(destination);
                if (same && EndSlotRead(chunk, i, generation))
                {
                    return true;
                }
            }
        }
        finally
        {
            _mutationGate.ExitReadLock();
        }
    }

    /// <summary>Enumerates every live entry with a copy of its vector (for cross-checking against a store).</summary>
    /// <returns>The entries in slot order; entries added or removed during the enumeration may or may not appear.</returns>
    public IEnumerable<StoredVector> EnumerateVectors()
    {
        int high = SlotHighWater;
        for (int slot = 0; slot < high; slot++)
        {
            if (TryCopyLive(slot, out long id, out float[]? vector))
            {
                yield return new StoredVector(id, vector);
            }
        }
    }

    /// <summary>Enumerates the id of every live entry (no vector copies: for reconciling with a store).</summary>
    /// <returns>The ids in slot order; entries added or removed during the enumeration may or may not appear.</returns>
    public IEnumerable<long> EnumerateIds()
    {
        int high = SlotHighWater;
        for (int slot = 0; slot < high; slot++)
        {
            NodeChunk chunk = ChunkOf(slot);
            int i = slot & ChunkMask;
            uint generation = BeginSlotRead(chunk, i);
            long id = Volatile.Read(ref chunk.Ids[i]);
            if (Volatile.Read(ref chunk.States[i]) == NodeChunk.Live && EndSlotRead(chunk, i, generation))
            {
                yield return id;
            }
        }
    }

    private bool TryCopyLive(int slot, out long id, out float[] vector)
    {
        NodeChunk chunk = ChunkOf(slot);
        int i = slot & ChunkMask;
        uint generation = BeginSlotRead(chunk, i);
        id = Volatile.Read(ref chunk.Ids[i]);
        vector = [];
        if (Volatile.Read(ref chunk.States[i]) != NodeChunk.Live)
        {
            return false;
        }

        vector = new ReadOnlySpan<float>(FloatRow(slot), _dimension).ToArray();
        return EndSlotRead(chunk, i, generation);
    }


    // ------------------------------------------------------------------ memory and lifetime

    /// <summary>Bytes of managed and native memory this graph holds (vectors, codes, lists, ids, map).</summary>
    internal long MemoryBytes() => Memory().HeapTotal;

    /// <summary>The graph's memory by layer, from the sizes of the arrays it allocated.</summary>
    internal IndexMemory Memory()
    {
        long vectors = 0, mapped = 0, codes = 0, level0 = 0, upperLinks = 0, nodeState = 0;
        NodeChunk?[] chunks = _chunks;
        foreach (NodeChunk? chunk in chunks)
        {
            if (chunk is null)
            {
                continue;
            }

            vectors += chunk.Floats.HeapBytes;
            mapped += chunk.Floats.HeapBytes == 0 ? chunk.Floats.Length : 0;
            codes += (chunk.Codes?.HeapBytes ?? 0) + ((chunk.Scales?.LongLength ?? 0) * 4);
            level0 += ArrayBytes(chunk.Links0.LongLength * 4);
            nodeState += ArrayBytes(chunk.Ids.LongLength * 8) + ArrayBytes(chunk.Levels.Length) + ArrayBytes(chunk.States.Length) +
                         ArrayBytes(chunk.Locks.LongLength * 4) + ArrayBytes(chunk.Generations.LongLength * 4) + ArrayBytes(chunk.Upper.LongLength * 8);
            foreach (int[]? upper in chunk.Upper)
            {
                upperLinks += upper is null ? 0 : ArrayBytes((long)upper.Length * 4);
            }
        }

        long idMap;
        lock (_slotLock)
        {
            idMap = ArrayBytes((long)_idTable.Length * 4) + ArrayBytes((long)_freeSlots.Count * 4);
        }

        return new IndexMemory(vectors, mapped, codes, level0, upperLinks, nodeState, idMap, ArrayBytes((long)chunks.Length * 8) + (chunks.Length * 64L) + 512);
    }

    // An array's object header and length word.
    private static long ArrayBytes(long payload) => payload + 24;

    private void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            ThrowHelper.Disposed(nameof(HnswIndex));
        }
    }

    // ------------------------------------------------------------------ as the index behind a partition

    bool IVectorPartitionIndex.IsGraph => true;

    IVectorPartitionIndex? IVectorPartitionIndex.Successor => null;

    long IVectorPartitionIndex.MemoryBytes => MemoryBytes();

    IndexMemory IVectorPartitionIndex.Memory => Memory();

    WriteOutcome IVectorPartitionIndex.TryAdd(long id, ReadOnlySpan<float> vector) =>
        TryAdd(id, vector) ? WriteOutcome.Applied : WriteOutcome.Unchanged;

    WriteOutcome IVectorPartitionIndex.Remove(long id) => Remove(id) ? WriteOutcome.Applied : WriteOutcome.Unchanged;

    void IVectorPartitionIndex.WriteTo(SnapshotWriter writer) => WriteTo(writer);

    /// <summary>
    /// Releases the memory-mapped rescoring files, if any. Searches must not run during or after this call (a
    /// <see cref="PartitionedIndex"/> ensures that for its partitions).
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (NodeChunk? chunk in _chunks)
        {
            chunk?.Dispose();
        }

        _mutationGate.Dispose();
    }
}
