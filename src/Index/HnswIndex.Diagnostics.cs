namespace SemCache.Index;

// Diagnostics for tests: the structural invariants of the graph, checked with writers held off.
public sealed unsafe partial class HnswIndex
{
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
                if (!MapTryGet(chunk.Ids[i], out int mapped) || mapped != slot)
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

            if (live != _count || live != _idCount)
            {
                problems.Add($"live slots {live}, Count {_count}, map {_idCount}");
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
}
