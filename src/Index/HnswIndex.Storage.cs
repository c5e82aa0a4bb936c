using System.Runtime.CompilerServices;

namespace SemCache.Index;

// Storage of nodes: chunks of slots (never moved once allocated), slot allocation and reuse, node initialisation,
// level drawing, the packed entry word, neighbour lists (read optimistically, written under the node's spin lock).
public sealed unsafe partial class HnswIndex
{
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

        // A reused slot can still be reached through stale links to the node that held it. Its level-0 list is kept
        // until Insert publishes the new one: a search that wanders in follows the old node's edges (valid slots: a
        // detour at worst). Emptied here, the slot would be a dead end for the whole of this insert, and a search that
        // descended into it returned it alone. Upper levels start empty (their count may change with the level).
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

    // Slot reuse (ABA): a removed node's slot goes to the free list and a later insert rewrites its row and id, while a
    // search or copy that found the slot earlier may still be reading it. Remove bumps the slot's generation before it
    // frees the slot. A reader takes the generation (acquire), checks the slot is live, reads id and row, fences
    // (so no row load moves below the re-check) and accepts only if the generation is unchanged and the slot still
    // live: then the slot was not freed in between, so it was not refilled, and the id and row it read belong together.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint BeginSlotRead(NodeChunk chunk, int i) => Volatile.Read(ref chunk.Generations[i]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool EndSlotRead(NodeChunk chunk, int i, uint generation)
    {
        Interlocked.MemoryBarrier();
        return Volatile.Read(ref chunk.Generations[i]) == generation && Volatile.Read(ref chunk.States[i]) == NodeChunk.Live;
    }

    private bool IsLive(int slot) => Volatile.Read(ref ChunkOf(slot).States[slot & ChunkMask]) == NodeChunk.Live;
}
