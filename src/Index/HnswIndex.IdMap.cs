using System.Runtime.CompilerServices;

namespace SemCache.Index;

// The id → slot map: open addressing with linear probing over an int[] of slot + 1 (0 = empty), the id of a mapped
// slot read from the chunk's Ids array. 4 bytes per bucket at a load of at most 0.7, so 6-12 bytes per vector where a
// Dictionary<long, int> took 28 per unit of capacity. Every call holds _slotLock. A slot is mapped only once
// InitializeNode has written its id (and unmapped before it is freed), so Ids is right for every slot in the table.
public sealed unsafe partial class HnswIndex
{
    private const int MinIdTableLength = 16;

    private int[] _idTable = new int[MinIdTableLength];
    private int _idCount;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int IdHome(long id, int mask) => (int)(((ulong)id * 0x9E3779B97F4A7C15UL) >> 32) & mask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long IdOfSlot(int slot) => ChunkOf(slot).Ids[slot & ChunkMask];

    private bool TryFindId(long id, out int bucket, out int slot)
    {
        int[] table = _idTable;
        int mask = table.Length - 1;
        for (bucket = IdHome(id, mask); ; bucket = (bucket + 1) & mask)
        {
            int entry = table[bucket];
            if (entry == 0)
            {
                slot = -1;
                return false;
            }

            if (IdOfSlot(entry - 1) == id)
            {
                slot = entry - 1;
                return true;
            }
        }
    }

    private bool MapTryGet(long id, out int slot) => TryFindId(id, out _, out slot);

    /// <summary>Maps an id that is not mapped yet to its slot, whose Ids entry already holds it.</summary>
    private void MapAdd(long id, int slot)
    {
        if ((_idCount + 1) * 10L > _idTable.Length * 7L)
        {
            int[] old = _idTable;
            _idTable = new int[old.Length * 2];
            foreach (int entry in old)
            {
                if (entry != 0)
                {
                    Place(IdOfSlot(entry - 1), entry);
                }
            }
        }

        Place(id, slot + 1);
        _idCount++;
    }

    private void Place(long id, int entry)
    {
        int[] table = _idTable;
        int mask = table.Length - 1;
        int bucket = IdHome(id, mask);
        while (table[bucket] != 0)
        {
            bucket = (bucket + 1) & mask;
        }

        table[bucket] = entry;
    }

    /// <summary>Unmaps an id; backward-shift deletion keeps every probe run unbroken (no tombstones).</summary>
    private bool MapRemove(long id, out int slot)
    {
        if (!TryFindId(id, out int hole, out slot))
        {
            return false;
        }

        int[] table = _idTable;
        int mask = table.Length - 1;
        for (int j = (hole + 1) & mask; table[j] != 0; j = (j + 1) & mask)
        {
            // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
            int home = IdHome(IdOfSlot(table[j] - 1), mask);
            bool stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
            if (!stays)
            {
                table[hole] = table[j];
                hole = j;
            }
        }

        table[hole] = 0;
        _idCount--;
        return true;
    }
}
