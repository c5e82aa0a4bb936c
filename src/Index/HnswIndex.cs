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
/// </remarks>
public sealed unsafe class HnswIndex : IDisposable
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
    private readonly Dictionary<long, int> _idToSlot;
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
        _idToSlot = new Dictionary<long, int>(options.InitialCapacity);
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
                    if (_idToSlot.ContainsKey(id))
                    {
                        return false;
                    }

                    slot = AllocateSlot();
                    _idToSlot.Add(id, slot);
                }

                int level = RandomLevel();
                InitializeNode(slot, id, level, normalized);
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
                    if (!_idToSlot.Remove(id, out slot))
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
            return _idToSlot.ContainsKey(id);
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
            int slot;
            lock (_slotLock)
            {
                if (!_idToSlot.TryGetValue(id, out slot))
                {
                    return false;
                }
            }

            new ReadOnlySpan<float>(FloatRow(slot), _dimension).CopyTo(destination);
            return true;
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

    private bool TryCopyLive(int slot, out long id, out float[] vector)
    {
        NodeChunk chunk = ChunkOf(slot);
        int i = slot & ChunkMask;
        id = chunk.Ids[i];
        vector = [];
        if (Volatile.Read(ref chunk.States[i]) != NodeChunk.Live)
        {
            return false;
        }

        vector = new ReadOnlySpan<float>(FloatRow(slot), _dimension).ToArray();
        return Volatile.Read(ref chunk.States[i]) == NodeChunk.Live && chunk.Ids[i] == id;
    }

    /// <summary>Finds the <paramref name="k"/> nearest vectors with the default <see cref="VectorIndexOptions.EfSearch"/>.</summary>
    /// <param name="query">The query vector (normalised if it is not unit length).</param>
    /// <param name="k">Number of neighbours wanted, at least 1.</param>
    /// <returns>Up to <paramref name="k"/> results, most similar first (fewer when the index holds fewer).</returns>
    public SearchResult[] Search(ReadOnlySpan<float> query, int k)
    {
        if (k < 1)
        {
            ThrowHelper.KOutOfRange(k);
        }

        SearchResult[] buffer = new SearchResult[Math.Max(1, Math.Min(k, Count))];
        int n = Search(query, buffer.Length, buffer, Options.EfSearch);
        return n == buffer.Length ? buffer : buffer[..n];
    }

    /// <summary>Finds the <paramref name="k"/> nearest vectors with the default <see cref="VectorIndexOptions.EfSearch"/>.</summary>
    /// <param name="query">The query vector (normalised if it is not unit length).</param>
    /// <param name="k">Number of neighbours wanted, at least 1.</param>
    /// <param name="destination">Receives the results, most similar first; room for at least <paramref name="k"/>.</param>
    /// <returns>The number of results written: <paramref name="k"/>, or fewer when the index holds fewer.</returns>
    public int Search(ReadOnlySpan<float> query, int k, Span<SearchResult> destination) =>
        Search(query, k, destination, Options.EfSearch);

    /// <summary>Finds the <paramref name="k"/> nearest vectors with a given candidate list size.</summary>
    /// <param name="query">The query vector (normalised if it is not unit length).</param>
    /// <param name="k">Number of neighbours wanted, at least 1.</param>
    /// <param name="destination">Receives the results, most similar first; room for at least <paramref name="k"/>.</param>
    /// <param name="efSearch">HNSW efSearch (raised to <paramref name="k"/> when smaller); larger is slower and more exact.</param>
    /// <returns>The number of results written: <paramref name="k"/>, or fewer when the index holds fewer.</returns>
    [SkipLocalsInit]
    public int Search(ReadOnlySpan<float> query, int k, Span<SearchResult> destination, int efSearch)
    {
        ThrowIfDisposed();
        ValidateSearch(query, k, destination, efSearch, _dimension);

        SearchScratch scratch = SearchScratch.Current;
        float* q = scratch.QueryPointer(_dimension);
        VectorMath.ValidateAndNormalize(query, new Span<float>(q, _dimension), nameof(query));

        long entry = Volatile.Read(ref _entry);
        int ep = EntryOf(entry);
        if (ep < 0)
        {
            return 0;
        }

        int ef = Math.Max(efSearch, k);
        if (_int8)
        {
            sbyte* codes = scratch.QueryCodesPointer(_dimension);
            float scale = VectorMath.QuantizeInt8(new ReadOnlySpan<float>(q, _dimension), new Span<sbyte>(codes, _dimension));
            var space = new Int8Space(this, codes, scale);
            SearchFromTop(ref space, ep, LevelOf(entry), ef, scratch);
        }
        else
        {
            var space = new FloatSpace(this, q);
            SearchFromTop(ref space, ep, LevelOf(entry), ef, scratch);
        }

        return CollectResults(scratch, q, k, destination);
    }

    internal static void ValidateSearch(ReadOnlySpan<float> query, int k, Span<SearchResult> destination, int efSearch, int dimension)
    {
        if (query.Length != dimension)
        {
            ThrowHelper.DimensionMismatch(nameof(query), dimension, query.Length);
        }

        if (k < 1)
        {
            ThrowHelper.KOutOfRange(k);
        }

        if (efSearch < 1)
        {
            ThrowHelper.EfOutOfRange(efSearch);
        }

        if (destination.Length < k)
        {
            ThrowHelper.DestinationTooSmall(nameof(destination), k, destination.Length);
        }
    }

    /// <summary>Algorithm 5 (K-NN-SEARCH): greedy descent with ef = 1 to level 1, then Algorithm 2 at level 0.</summary>
    private void SearchFromTop<TSpace>(ref TSpace space, int ep, int maxLevel, int ef, SearchScratch scratch)
        where TSpace : struct, ISpace
    {
        int cur = ep;
        float curSim = space.Similarity(cur);
        for (int level = maxLevel; level > 0; level--)
        {
            GreedyClosest(ref space, ref cur, ref curSim, level, scratch);
        }

        SearchLayer(ref space, cur, curSim, ef, 0, scratch, excludeSlot: -1);
    }

    /// <summary>
    /// Sorts W, rescoring on exact floats when the traversal used int8 codes, and maps slots to ids. A slot is
    /// reported only if it is still live after its id is read, so a concurrently removed id is never returned.
    /// </summary>
    private int CollectResults(SearchScratch scratch, float* query, int k, Span<SearchResult> destination)
    {
        int n = scratch.ResultCount;
        scratch.EnsureWork(n);
        Span<Candidate> found = scratch.Work.AsSpan(0, n);
        for (int i = n - 1; i >= 0; i--)
        {
            found[i] = scratch.PopResult();
        }

        if (_int8)
        {
            for (int i = 0; i < found.Length; i++)
            {
                found[i].Sim = VectorMath.Dot(ref *query, ref *FloatRow(found[i].Slot), _dimension);
            }

            found.Sort(static (a, b) => b.Sim.CompareTo(a.Sim));
        }

        int written = 0;
        for (int i = 0; i < found.Length && written < k; i++)
        {
            int slot = found[i].Slot;
            NodeChunk chunk = ChunkOf(slot);
            int j = slot & ChunkMask;
            long id = Volatile.Read(ref chunk.Ids[j]);
            if (Volatile.Read(ref chunk.States[j]) == NodeChunk.Live)
            {
                destination[written++] = new SearchResult(id, found[i].Sim);
            }
        }

        return written;
    }

    // ------------------------------------------------------------------ distance spaces

    internal interface ISpace
    {
        float Similarity(int slot);

        void Prefetch(int slot);
    }

    private readonly struct FloatSpace : ISpace
    {
        private readonly HnswIndex _index;
        private readonly float* _query;

        public FloatSpace(HnswIndex index, float* query)
        {
            _index = index;
            _query = query;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Similarity(int slot) => VectorMath.Dot(ref *_query, ref *_index.FloatRow(slot), _index._dimension);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(int slot)
        {
            if (Sse.IsSupported)
            {
                byte* p = (byte*)_index.FloatRow(slot);
                Sse.Prefetch0(p);
                Sse.Prefetch0(p + 64);
                Sse.Prefetch0(p + 128);
                Sse.Prefetch0(p + 192);
            }
        }
    }

    private readonly struct Int8Space : ISpace
    {
        private readonly HnswIndex _index;
        private readonly sbyte* _codes;
        private readonly float _scale;

        public Int8Space(HnswIndex index, sbyte* codes, float scale)
        {
            _index = index;
            _codes = codes;
            _scale = scale;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Similarity(int slot)
        {
            NodeChunk chunk = _index.ChunkOf(slot);
            int i = slot & ChunkMask;
            sbyte* row = chunk.CodeRows + ((nint)i * chunk.CodeStride);
            return _scale * chunk.Scales![i] * VectorMath.DotInt8(ref *_codes, ref *row, _index._dimension);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(int slot)
        {
            if (Sse.IsSupported)
            {
                NodeChunk chunk = _index.ChunkOf(slot);
                byte* p = (byte*)(chunk.CodeRows + ((nint)(slot & ChunkMask) * chunk.CodeStride));
                Sse.Prefetch0(p);
                Sse.Prefetch0(p + 64);
            }
        }
    }

    // ------------------------------------------------------------------ storage

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private NodeChunk ChunkOf(int slot) => _chunks[slot >> ChunkShift]!;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal float* FloatRow(int slot) => ChunkOf(slot).FloatRows + ((nint)(slot & ChunkMask) * _dimension);

    private Lock IdLock(long id) => _idLocks[(int)((ulong)(id * unchecked((long)0x9E3779B97F4A7C15)) >> 58)];

    /// <summary>Takes a free slot or the next new one; caller holds <see cref="_slotLock"/>.</summary>
    private int AllocateSlot()
    {
        if (_freeSlots.TryPop(out int slot))
        {
            return slot;
        }

        if (_highWater == int.MaxValue)
        {
            ThrowHelper.CapacityExceeded();
        }

        slot = _highWater;
        EnsureChunk(slot >> ChunkShift);
        Volatile.Write(ref _highWater, slot + 1);
        return slot;
    }

    /// <summary>Makes chunks 0..<paramref name="chunkIndex"/> exist; caller holds <see cref="_slotLock"/>.</summary>
    private void EnsureChunk(int chunkIndex)
    {
        NodeChunk?[] chunks = _chunks;
        if (chunkIndex < chunks.Length && chunks[chunkIndex] is not null)
        {
            return;
        }

        NodeChunk?[] next = chunks;
        if (chunkIndex >= chunks.Length)
        {
            next = new NodeChunk?[Math.Max(chunkIndex + 1, Math.Max(4, chunks.Length * 2))];
            chunks.CopyTo(next, 0);
        }

        for (int c = 0; c <= chunkIndex; c++)
        {
            next[c] ??= new NodeChunk(ChunkSize, _dimension, _level0Stride, _int8, _rescoreDirectory);
        }

        // Publish after the chunks are built: a reader that sees a slot in a list also sees its chunk.
        _chunks = next;
    }

    private void InitializeNode(int slot, long id, int level, float* normalized)
    {
        NodeChunk chunk = ChunkOf(slot);
        int i = slot & ChunkMask;
        float* row = chunk.FloatRows + ((nint)i * _dimension);
        new ReadOnlySpan<float>(normalized, _dimension).CopyTo(new Span<float>(row, _dimension));
        if (_int8)
        {
            chunk.Scales![i] = VectorMath.QuantizeInt8(
                new ReadOnlySpan<float>(row, _dimension), new Span<sbyte>(chunk.CodeRows + ((nint)i * chunk.CodeStride), _dimension));
        }

        // A reused slot can still be reached through stale links of the node that held it; emptying its lists first
        // keeps such readers from following the old node's edges with the new vector.
        Volatile.Write(ref chunk.Links0[i * _level0Stride], 0);
        chunk.Upper[i] = level > 0 ? new int[level * _upperStride] : null;
        chunk.Levels[i] = (byte)level;
        chunk.Ids[i] = id;
        Volatile.Write(ref chunk.States[i], NodeChunk.Live);
    }

    /// <summary>Draws the node's top level: floor(-ln(U) · mL) with mL = 1/ln(M) (paper, section 4).</summary>
    private int RandomLevel()
    {
        ulong x = _seed + ((ulong)Interlocked.Increment(ref _levelCounter) * 0x9E3779B97F4A7C15UL);
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        x ^= x >> 31;
        double u = ((x >> 11) + 1) * (1.0 / (1UL << 53)); // (0, 1]
        return Math.Min((int)(-Math.Log(u) * _levelMultiplier), MaxLevel);
    }

    private static long Pack(int entryPoint, int maxLevel) => ((long)maxLevel << 32) | (uint)entryPoint;

    private static int EntryOf(long entry) => (int)entry;

    private static int LevelOf(long entry) => (int)(entry >> 32);

    // ------------------------------------------------------------------ neighbour lists

    /// <summary>Locates the list of <paramref name="slot"/> at <paramref name="level"/>: [count, ids...].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryGetList(int slot, int level, out int[] array, out int offset)
    {
        NodeChunk chunk = ChunkOf(slot);
        int i = slot & ChunkMask;
        if (level == 0)
        {
            array = chunk.Links0;
            offset = i * _level0Stride;
            return true;
        }

        int[]? upper = chunk.Upper[i];
        offset = (level - 1) * _upperStride;
        if (upper is null || offset + _upperStride > upper.Length)
        {
            // The slot was reused by a node with fewer levels since the reader found it.
            array = [];
            return false;
        }

        array = upper;
        return true;
    }

    /// <summary>Copies a neighbour list without locking; a concurrent rewrite can only mix valid slots.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int CopyList(int slot, int level, Span<int> destination)
    {
        if (!TryGetList(slot, level, out int[] array, out int offset))
        {
            return 0;
        }

        int capacity = level == 0 ? _m0 : _m;
        int count = Math.Min((int)(uint)Volatile.Read(ref array[offset]), capacity);
        array.AsSpan(offset + 1, count).CopyTo(destination);
        return count;
    }

    private void WriteList(int slot, int level, ReadOnlySpan<Candidate> neighbors)
    {
        if (!TryGetList(slot, level, out int[] array, out int offset))
        {
            return;
        }

        for (int j = 0; j < neighbors.Length; j++)
        {
            array[offset + 1 + j] = neighbors[j].Slot;
        }

        Volatile.Write(ref array[offset], neighbors.Length);
    }

    private void LockNode(int slot)
    {
        ref int word = ref ChunkOf(slot).Locks[slot & ChunkMask];
        if (Interlocked.CompareExchange(ref word, 1, 0) != 0)
        {
            SpinUntilLocked(ref word);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SpinUntilLocked(ref int word)
    {
        SpinWait spin = default;
        do
        {
            spin.SpinOnce(sleep1Threshold: -1);
        }
        while (Volatile.Read(ref word) != 0 || Interlocked.CompareExchange(ref word, 1, 0) != 0);
    }

    private void UnlockNode(int slot) => Volatile.Write(ref ChunkOf(slot).Locks[slot & ChunkMask], 0);

    private bool IsLive(int slot) => Volatile.Read(ref ChunkOf(slot).States[slot & ChunkMask]) == NodeChunk.Live;

    /// <summary>Similarity of two stored nodes in the traversal representation (int8 codes or floats).</summary>
    private float NodeSimilarity(int a, int b)
    {
        if (_int8)
        {
            NodeChunk ca = ChunkOf(a), cb = ChunkOf(b);
            int ia = a & ChunkMask, ib = b & ChunkMask;
            return ca.Scales![ia] * cb.Scales![ib] * VectorMath.DotInt8(
                ref *(ca.CodeRows + ((nint)ia * ca.CodeStride)), ref *(cb.CodeRows + ((nint)ib * cb.CodeStride)), _dimension);
        }

        return VectorMath.Dot(ref *FloatRow(a), ref *FloatRow(b), _dimension);
    }

    // ------------------------------------------------------------------ search primitives

    /// <summary>Algorithm 2 with ef = 1, as hnswlib does on the upper levels: move to any closer neighbour until none is.</summary>
    [SkipLocalsInit]
    private void GreedyClosest<TSpace>(ref TSpace space, ref int cur, ref float curSim, int level, SearchScratch scratch)
        where TSpace : struct, ISpace
    {
        Span<int> neighbors = stackalloc int[_m];
        bool changed = true;
        while (changed)
        {
            changed = false;
            int n = CopyList(cur, level, neighbors);
            for (int j = 0; j < n; j++)
            {
                int candidate = neighbors[j];
                float sim = space.Similarity(candidate);
                if (sim > curSim)
                {
                    curSim = sim;
                    cur = candidate;
                    changed = true;
                }
            }
        }
    }

    /// <summary>
    /// Algorithm 2 (SEARCH-LAYER): best-first search keeping the ef closest in W (a min-heap, worst on top) and the
    /// frontier in C (a max-heap). Removed nodes are still expanded, so the graph stays navigable around them, but
    /// never enter W (as hnswlib does for marked-deleted nodes).
    /// </summary>
    private void SearchLayer<TSpace>(ref TSpace space, int ep, float epSim, int ef, int level, SearchScratch scratch, int excludeSlot)
        where TSpace : struct, ISpace
    {
        scratch.BeginVisit(SlotHighWater);
        scratch.EnsureNeighbors(_m0);
        int[] neighbors = scratch.Neighbors;

        scratch.TryVisit(ep);
        scratch.PushCandidate(epSim, ep);
        if (ep != excludeSlot && IsLive(ep))
        {
            scratch.PushResult(epSim, ep);
        }

        while (scratch.CandidateCount > 0)
        {
            Candidate c = scratch.Candidates[0];
            if (scratch.ResultCount >= ef && c.Sim < scratch.Results[0].Sim)
            {
                break; // the closest unexpanded candidate is farther than the worst of W: W is final
            }

            scratch.PopCandidate();
            int n = CopyList(c.Slot, level, neighbors);

            // First pass: drop visited nodes and prefetch the rest, so their rows load while we compute.
            int fresh = 0;
            for (int j = 0; j < n; j++)
            {
                int e = neighbors[j];
                if (scratch.TryVisit(e))
                {
                    neighbors[fresh++] = e;
                    space.Prefetch(e);
                }
            }

            for (int j = 0; j < fresh; j++)
            {
                int e = neighbors[j];
                float sim = space.Similarity(e);
                if (scratch.ResultCount < ef || sim > scratch.Results[0].Sim)
                {
                    scratch.PushCandidate(sim, e);
                    if (e != excludeSlot && IsLive(e))
                    {
                        scratch.PushResult(sim, e);
                        if (scratch.ResultCount > ef)
                        {
                            scratch.PopResult();
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Algorithm 4 (SELECT-NEIGHBORS-HEURISTIC) without extendCandidates or keepPrunedConnections, as hnswlib:
    /// walk the candidates closest first and keep one only if it is closer to the base than to every one kept,
    /// which favours links in diverse directions over a clique of near-duplicates.
    /// </summary>
    private int SelectNeighbors(ReadOnlySpan<Candidate> sortedClosestFirst, int max, Span<Candidate> selected)
    {
        if (sortedClosestFirst.Length <= max)
        {
            sortedClosestFirst.CopyTo(selected);
            return sortedClosestFirst.Length;
        }

        int count = 0;
        for (int i = 0; i < sortedClosestFirst.Length && count < max; i++)
        {
            Candidate e = sortedClosestFirst[i];
            bool keep = true;
            for (int j = 0; j < count; j++)
            {
                if (NodeSimilarity(e.Slot, selected[j].Slot) > e.Sim)
                {
                    keep = false;
                    break;
                }
            }

            if (keep)
            {
                selected[count++] = e;
            }
        }

        return count;
    }

    // ------------------------------------------------------------------ insert (Algorithm 1)

    private void Link(int slot, int level, SearchScratch scratch)
    {
        long entry = Volatile.Read(ref _entry);
        bool holdEntryLock = false;
        if (level > LevelOf(entry))
        {
            // The new node will become the entry point: hold the lock for the whole insert, as hnswlib does, so that
            // no other insert raises the top level meanwhile.
            _entryLock.Enter();
            holdEntryLock = true;
            entry = Volatile.Read(ref _entry);
            if (level <= LevelOf(entry))
            {
                _entryLock.Exit();
                holdEntryLock = false;
            }
        }

        try
        {
            int ep = EntryOf(entry);
            if (ep >= 0)
            {
                if (_int8)
                {
                    NodeChunk chunk = ChunkOf(slot);
                    int i = slot & ChunkMask;
                    var space = new Int8Space(this, chunk.CodeRows + ((nint)i * chunk.CodeStride), chunk.Scales![i]);
                    Insert(ref space, slot, level, ep, LevelOf(entry), scratch);
                }
                else
                {
                    var space = new FloatSpace(this, FloatRow(slot));
                    Insert(ref space, slot, level, ep, LevelOf(entry), scratch);
                }
            }

            if (holdEntryLock)
            {
                Volatile.Write(ref _entry, Pack(slot, level));
            }
        }
        finally
        {
            if (holdEntryLock)
            {
                _entryLock.Exit();
            }
        }
    }

    [SkipLocalsInit]
    private void Insert<TSpace>(ref TSpace space, int slot, int level, int ep, int maxLevel, SearchScratch scratch)
        where TSpace : struct, ISpace
    {
        int cur = ep;
        float curSim = space.Similarity(cur);
        for (int lc = maxLevel; lc > level; lc--)
        {
            GreedyClosest(ref space, ref cur, ref curSim, lc, scratch);
        }

        Span<Candidate> selected = stackalloc Candidate[_m];
        for (int lc = Math.Min(level, maxLevel); lc >= 0; lc--)
        {
            SearchLayer(ref space, cur, curSim, _efConstruction, lc, scratch, excludeSlot: slot);
            int found = scratch.ResultCount;
            if (found == 0)
            {
                continue;
            }

            scratch.EnsureWork(found);
            Span<Candidate> w = scratch.Work.AsSpan(0, found);
            for (int i = found - 1; i >= 0; i--)
            {
                w[i] = scratch.PopResult(); // closest ends up first
            }

            cur = w[0].Slot;
            curSim = w[0].Sim;

            int count = SelectNeighbors(w, _m, selected);
            LockNode(slot);
            WriteList(slot, lc, selected[..count]);
            UnlockNode(slot);

            for (int j = 0; j < count; j++)
            {
                Connect(selected[j].Slot, slot, selected[j].Sim, lc, scratch);
            }
        }
    }

    /// <summary>Adds the back-link neighbor → newSlot, shrinking the list with Algorithm 4 when it is full.</summary>
    private void Connect(int neighbor, int newSlot, float sim, int level, SearchScratch scratch)
    {
        LockNode(neighbor);
        try
        {
            if (!IsLive(neighbor) || !TryGetList(neighbor, level, out int[] array, out int offset))
            {
                return;
            }

            int capacity = level == 0 ? _m0 : _m;
            int count = Math.Min(array[offset], capacity);
            Span<int> current = array.AsSpan(offset + 1, count);
            if (current.Contains(newSlot))
            {
                return;
            }

            if (count < capacity)
            {
                array[offset + 1 + count] = newSlot;
                Volatile.Write(ref array[offset], count + 1);
                return;
            }

            scratch.EnsureWork(capacity + 1);
            scratch.EnsureNeighbors(capacity + 1);
            Span<Candidate> candidates = scratch.Work.AsSpan(0, capacity + 1);
            int n = 0;
            candidates[n++] = new Candidate(sim, newSlot);
            foreach (int e in current)
            {
                if (IsLive(e))
                {
                    candidates[n++] = new Candidate(NodeSimilarity(neighbor, e), e);
                }
            }

            candidates = candidates[..n];
            candidates.Sort(static (a, b) => b.Sim.CompareTo(a.Sim));
            Span<Candidate> kept = scratch.Selected.AsSpan(0, capacity);
            int keptCount = SelectNeighbors(candidates, capacity, kept);
            WriteList(neighbor, level, kept[..keptCount]);
        }
        finally
        {
            UnlockNode(neighbor);
        }
    }

    // ------------------------------------------------------------------ remove

    /// <summary>
    /// Reconnects every live neighbour that linked to <paramref name="slot"/>: its new list is chosen by Algorithm 4
    /// from its other neighbours plus the removed node's neighbours (the two-hop ring around the hole).
    /// </summary>
    [SkipLocalsInit]
    private void Unlink(int slot)
    {
        SearchScratch scratch = SearchScratch.Current;
        int level = ChunkOf(slot).Levels[slot & ChunkMask];
        Span<int> removedNeighbors = stackalloc int[_m0];
        for (int lc = 0; lc <= level; lc++)
        {
            LockNode(slot);
            int n = CopyList(slot, lc, removedNeighbors);
            UnlockNode(slot);

            for (int j = 0; j < n; j++)
            {
                int neighbor = removedNeighbors[j];
                if (neighbor != slot && IsLive(neighbor))
                {
                    Repair(neighbor, slot, lc, removedNeighbors[..n], scratch);
                }
            }
        }
    }

    private void Repair(int node, int removed, int level, ReadOnlySpan<int> removedNeighbors, SearchScratch scratch)
    {
        LockNode(node);
        try
        {
            if (!TryGetList(node, level, out int[] array, out int offset))
            {
                return;
            }

            int capacity = level == 0 ? _m0 : _m;
            int count = Math.Min(array[offset], capacity);
            Span<int> current = array.AsSpan(offset + 1, count);
            if (!current.Contains(removed))
            {
                return;
            }

            scratch.EnsureWork(count + removedNeighbors.Length);
            scratch.EnsureNeighbors(capacity);
            scratch.BeginVisit(SlotHighWater);
            scratch.TryVisit(node);
            scratch.TryVisit(removed);
            Span<Candidate> candidates = scratch.Work;
            int n = 0;
            foreach (int e in current)
            {
                if (scratch.TryVisit(e) && IsLive(e))
                {
                    candidates[n++] = new Candidate(NodeSimilarity(node, e), e);
                }
            }

            foreach (int e in removedNeighbors)
            {
                if (scratch.TryVisit(e) && IsLive(e) && (level == 0 || TryGetList(e, level, out _, out _)))
                {
                    candidates[n++] = new Candidate(NodeSimilarity(node, e), e);
                }
            }

            Span<Candidate> pool = candidates[..n];
            pool.Sort(static (a, b) => b.Sim.CompareTo(a.Sim));
            Span<Candidate> kept = scratch.Selected.AsSpan(0, capacity);
            int keptCount = SelectNeighbors(pool, capacity, kept);
            WriteList(node, level, kept[..keptCount]);
        }
        finally
        {
            UnlockNode(node);
        }
    }

    /// <summary>
    /// When the entry point is removed, the live node with the highest level takes over (a scan, but only on this
    /// rare event: the top level usually holds one node, which no neighbour can replace at that level).
    /// </summary>
    private void ReplaceEntryPointIfRemoved(int slot)
    {
        lock (_entryLock)
        {
            if (EntryOf(Volatile.Read(ref _entry)) != slot)
            {
                return;
            }

            int best = -1, bestLevel = -1;
            int high = SlotHighWater;
            NodeChunk?[] chunks = _chunks;
            for (int c = 0; c * ChunkSize < high; c++)
            {
                NodeChunk chunk = chunks[c]!;
                int rows = Math.Min(ChunkSize, high - (c * ChunkSize));
                for (int i = 0; i < rows; i++)
                {
                    if (chunk.Levels[i] > bestLevel && Volatile.Read(ref chunk.States[i]) == NodeChunk.Live)
                    {
                        bestLevel = chunk.Levels[i];
                        best = (c * ChunkSize) + i;
                    }
                }
            }

            Volatile.Write(ref _entry, Pack(best, best < 0 ? -1 : bestLevel));
        }
    }

    // ------------------------------------------------------------------ diagnostics

    /// <summary>Checks the graph's structural invariants; returns a description of each violation (empty when sound).</summary>
    internal List<string> CheckInvariants(out int reachableLive)
    {
        var problems = new List<string>();
        _mutationGate.EnterWriteLock();
        try
        {
            int high = _highWater;
            int live = 0, maxLiveLevel = -1;
            Span<int> list = new int[_m0];
            for (int slot = 0; slot < high; slot++)
            {
                NodeChunk chunk = ChunkOf(slot);
                int i = slot & ChunkMask;
                byte state = chunk.States[i];
                if (state == NodeChunk.Deleted)
                {
                    problems.Add($"slot {slot} left in Deleted state");
                }

                if (state != NodeChunk.Live)
                {
                    continue;
                }

                live++;
                maxLiveLevel = Math.Max(maxLiveLevel, chunk.Levels[i]);
                if (!_idToSlot.TryGetValue(chunk.Ids[i], out int mapped) || mapped != slot)
                {
                    problems.Add($"slot {slot} (id {chunk.Ids[i]}) is live but not mapped to it");
                }

                for (int lc = 0; lc <= chunk.Levels[i]; lc++)
                {
                    int n = CopyList(slot, lc, list);
                    for (int j = 0; j < n; j++)
                    {
                        int e = list[j];
                        if ((uint)e >= (uint)high)
                        {
                            problems.Add($"slot {slot} level {lc} links to {e} past the high-water mark");
                        }
                        else if (e == slot)
                        {
                            problems.Add($"slot {slot} level {lc} links to itself");
                        }
                        else if (list[..j].Contains(e))
                        {
                            problems.Add($"slot {slot} level {lc} links twice to {e}");
                        }
                    }
                }
            }

            if (live != _count || live != _idToSlot.Count)
            {
                problems.Add($"live slots {live}, Count {_count}, map {_idToSlot.Count}");
            }

            if (live + _freeSlots.Count != high)
            {
                problems.Add($"live {live} + free {_freeSlots.Count} != high-water {high}");
            }

            (int ep, int maxLevel) = Entry;
            if (live == 0)
            {
                if (ep != -1)
                {
                    problems.Add("empty graph has an entry point");
                }
            }
            else if (ep < 0 || !IsLive(ep))
            {
                problems.Add($"entry point {ep} is not live");
            }
            else if (ChunkOf(ep).Levels[ep & ChunkMask] != maxLevel || maxLevel < maxLiveLevel)
            {
                problems.Add($"entry point level {ChunkOf(ep).Levels[ep & ChunkMask]}, max level {maxLevel}, highest live level {maxLiveLevel}");
            }

            // Level-0 reachability of live nodes from the entry point (through any node, as searches go).
            reachableLive = 0;
            if (ep >= 0)
            {
                var seen = new bool[high];
                var queue = new Queue<int>();
                seen[ep] = true;
                queue.Enqueue(ep);
                while (queue.TryDequeue(out int s))
                {
                    if (IsLive(s))
                    {
                        reachableLive++;
                    }

                    int n = CopyList(s, 0, list);
                    for (int j = 0; j < n; j++)
                    {
                        int e = list[j];
                        if ((uint)e < (uint)high && !seen[e])
                        {
                            seen[e] = true;
                            queue.Enqueue(e);
                        }
                    }
                }
            }
        }
        finally
        {
            _mutationGate.ExitWriteLock();
        }

        return problems;
    }

    /// <summary>Bytes of managed and native memory this graph holds (vectors, codes, lists, ids, map).</summary>
    internal long MemoryBytes()
    {
        long total = 0;
        foreach (NodeChunk? chunk in _chunks)
        {
            if (chunk is null)
            {
                continue;
            }

            total += chunk.Floats.HeapBytes + (chunk.Codes?.HeapBytes ?? 0) + ((long)chunk.Links0.Length * 4) +
                     ((long)chunk.Ids.Length * 8) + chunk.Levels.Length + chunk.States.Length + ((long)chunk.Locks.Length * 4) +
                     ((chunk.Scales?.LongLength ?? 0) * 4) + ((long)chunk.Upper.Length * 8);
            foreach (int[]? upper in chunk.Upper)
            {
                total += upper is null ? 0 : 24 + ((long)upper.Length * 4);
            }
        }

        lock (_slotLock)
        {
            total += (long)_idToSlot.EnsureCapacity(0) * 28; // entry (24 bytes) + bucket (4 bytes)
        }

        return total;
    }

    // ------------------------------------------------------------------ snapshot

    /// <summary>Writes the graph as flat arrays; the caller holds no lock, we take the mutation gate exclusively.</summary>
    internal void WriteTo(SnapshotWriter writer)
    {
        _mutationGate.EnterWriteLock();
        try
        {
            int high = _highWater;
            writer.WriteByte((byte)(_int8 ? 1 : 0));
            writer.WriteInt32(high);
            writer.WriteInt64(Volatile.Read(ref _entry));
            writer.WriteInt64(_levelCounter);
            for (int c = 0; c * ChunkSize < high; c++)
            {
                NodeChunk chunk = _chunks[c]!;
                int rows = Math.Min(ChunkSize, high - (c * ChunkSize));
                writer.Write<long>(chunk.Ids.AsSpan(0, rows));
                writer.Write<byte>(chunk.Levels.AsSpan(0, rows));
                writer.Write<byte>(chunk.States.AsSpan(0, rows));
                writer.Write<int>(chunk.Links0.AsSpan(0, rows * _level0Stride));
                writer.Write(new ReadOnlySpan<float>(chunk.FloatRows, rows * _dimension));
                if (_int8)
                {
                    writer.Write(new ReadOnlySpan<sbyte>(chunk.CodeRows, rows * chunk.CodeStride));
                    writer.Write<float>(chunk.Scales.AsSpan(0, rows));
                }

                for (int i = 0; i < rows; i++)
                {
                    if (chunk.Levels[i] > 0)
                    {
                        int[] upper = chunk.Upper[i] ?? new int[chunk.Levels[i] * _upperStride];
                        writer.Write<int>(upper);
                    }
                }
            }

            int[] free = [.. _freeSlots];
            writer.WriteInt32(free.Length);
            writer.Write<int>(free);
        }
        finally
        {
            _mutationGate.ExitWriteLock();
        }
    }

    /// <summary>Reads a graph written by <see cref="WriteTo"/> straight into fresh chunks: no rebuild.</summary>
    internal static HnswIndex ReadFrom(SnapshotReader reader, VectorIndexOptions options)
    {
        var index = new HnswIndex(options);
        try
        {
            index.ReadBody(reader);
            return index;
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    private void ReadBody(SnapshotReader reader)
    {
        bool int8 = reader.ReadByte() != 0;
        if (int8 != _int8)
        {
            ThrowHelper.Corrupt("graph quantization differs from the header's.");
        }

        int high = reader.ReadInt32();
        long perRow = 8 + 1 + 1 + (4L * _level0Stride) + (4L * _dimension);
        if (high < 0)
        {
            ThrowHelper.Corrupt("negative slot count.");
        }

        reader.EnsureAvailable(high * perRow);
        long entry = reader.ReadInt64();
        _levelCounter = reader.ReadInt64();
        if (high > 0)
        {
            EnsureChunk((high - 1) >> ChunkShift);
        }

        int live = 0;
        for (int c = 0; c * ChunkSize < high; c++)
        {
            NodeChunk chunk = _chunks[c]!;
            int rows = Math.Min(ChunkSize, high - (c * ChunkSize));
            reader.Read<long>(chunk.Ids.AsSpan(0, rows));
            reader.Read<byte>(chunk.Levels.AsSpan(0, rows));
            reader.Read<byte>(chunk.States.AsSpan(0, rows));
            reader.Read<int>(chunk.Links0.AsSpan(0, rows * _level0Stride));
            reader.Read(new Span<float>(chunk.FloatRows, rows * _dimension));
            if (_int8)
            {
                reader.Read(new Span<sbyte>(chunk.CodeRows, rows * chunk.CodeStride));
                reader.Read<float>(chunk.Scales.AsSpan(0, rows));
            }

            for (int i = 0; i < rows; i++)
            {
                int level = chunk.Levels[i];
                byte state = chunk.States[i];
                if (level > MaxLevel || state > NodeChunk.Live)
                {
                    ThrowHelper.Corrupt("node level or state out of range.");
                }

                if (level > 0)
                {
                    int[] upper = new int[level * _upperStride];
                    reader.Read<int>(upper);
                    chunk.Upper[i] = upper;
                }

                if (state == NodeChunk.Live)
                {
                    live++;
                    if (!_idToSlot.TryAdd(chunk.Ids[i], (c * ChunkSize) + i))
                    {
                        ThrowHelper.Corrupt("an id appears twice.");
                    }
                }
            }
        }

        int freeCount = reader.ReadCount(4);
        int[] free = new int[freeCount];
        reader.Read<int>(free);
        for (int i = free.Length - 1; i >= 0; i--)
        {
            if ((uint)free[i] >= (uint)high)
            {
                ThrowHelper.Corrupt("free slot out of range.");
            }

            _freeSlots.Push(free[i]);
        }

        int ep = EntryOf(entry);
        if (live + freeCount != high || (live > 0 && ((uint)ep >= (uint)high || !IsLive(ep))) || (live == 0 && ep != -1))
        {
            ThrowHelper.Corrupt("slot accounting or entry point is inconsistent.");
        }

        _highWater = high;
        _count = live;
        _entry = entry;
    }

    // ------------------------------------------------------------------ lifetime

    private void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            ThrowHelper.Disposed(nameof(HnswIndex));
        }
    }

    /// <summary>Releases the memory-mapped rescoring files, if any. Searches must not run during or after this call.</summary>
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
