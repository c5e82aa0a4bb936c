using System.Runtime.CompilerServices;

namespace SemCache.Index;

// Deletion with repair: a removed node's in-neighbours are reconnected over the two-hop ring around the hole
// (hnswlib's repairConnectionsForUpdate), and the entry point is replaced when it is the one removed.
public sealed unsafe partial class HnswIndex
{
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
}
