using System.Runtime.CompilerServices;

namespace SemCache.Index;

// Insertion: Algorithm 1 (INSERT) with Algorithm 4 (SELECT-NEIGHBORS-HEURISTIC) for the new node's lists and for
// shrinking a neighbour's full list when it takes the back-link.
public sealed unsafe partial class HnswIndex
{
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
            if (ep < 0)
            {
                WriteList(slot, 0, []); // the first node: no neighbours (a reused slot still holds its old list)
            }
            else
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

        // The neighbours are chosen top-down (each level's search starts from the closest found on the level above),
        // but published bottom-up: once a search can reach the new node on a level, the node is already linked on
        // every level below. Published top-down, a search that reached it on level 1 before its level-0 list was
        // written would descend into a node with no level-0 links and return it alone.
        int top = Math.Min(level, maxLevel);
        int room = (top + 1) * _m;
        Candidate[]? rented = room <= 512 ? null : System.Buffers.ArrayPool<Candidate>.Shared.Rent(room);
        Span<Candidate> selected = rented ?? stackalloc Candidate[512];
        Span<int> counts = stackalloc int[MaxLevel + 1];
        try
        {
            for (int lc = top; lc >= 0; lc--)
            {
                counts[lc] = 0;
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
                counts[lc] = SelectNeighbors(w, _m, selected.Slice(lc * _m, _m));
            }

            for (int lc = 0; lc <= top; lc++)
            {
                Span<Candidate> chosen = selected.Slice(lc * _m, counts[lc]);
                LockNode(slot);
                WriteList(slot, lc, chosen);
                UnlockNode(slot);

                foreach (Candidate c in chosen)
                {
                    Connect(c.Slot, slot, c.Sim, lc, scratch);
                }
            }
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<Candidate>.Shared.Return(rented);
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
}
