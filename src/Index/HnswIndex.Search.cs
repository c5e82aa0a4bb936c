using System.Runtime.CompilerServices;

namespace SemCache.Index;

// Search: Algorithm 5 (K-NN-SEARCH) from the entry point down, Algorithm 2 (SEARCH-LAYER), the greedy upper-level
// descent, and the collection (int8 rescoring) of results. Searches take no lock; see the class remarks.
public sealed unsafe partial class HnswIndex
{
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
    /// Sorts W, rescoring on exact floats when the traversal used int8 codes, and maps slots to ids. Each reported
    /// result is read consistently (see <see cref="BeginSlotRead"/>): its similarity is recomputed on the row of the
    /// very node whose id is reported, so a node removed meanwhile is not returned, and a slot refilled by another id
    /// since the traversal scored it is reported with that id's own similarity (or dropped), never with the old one.
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
        bool moved = false;
        for (int i = 0; i < found.Length && written < k; i++)
        {
            int slot = found[i].Slot;
            NodeChunk chunk = ChunkOf(slot);
            int j = slot & ChunkMask;
            uint generation = BeginSlotRead(chunk, j);
            if (Volatile.Read(ref chunk.States[j]) != NodeChunk.Live)
            {
                continue;
            }

            long id = Volatile.Read(ref chunk.Ids[j]);
            float sim = VectorMath.Dot(ref *query, ref *FloatRow(slot), _dimension); // same kernel: bit-identical unless refilled
            if (!EndSlotRead(chunk, j, generation))
            {
                continue;
            }

            moved |= sim != found[i].Sim;
            destination[written++] = new SearchResult(id, sim);
        }

        if (moved)
        {
            destination[..written].Sort(static (a, b) => b.Similarity.CompareTo(a.Similarity));
        }

        return written;
    }

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
}
