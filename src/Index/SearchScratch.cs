using System.Runtime.CompilerServices;

namespace SemCache.Index;

/// <summary>A (similarity, slot) pair in the search heaps.</summary>
internal struct Candidate
{
    public float Sim;
    public int Slot;

    public Candidate(float sim, int slot)
    {
        Sim = sim;
        Slot = slot;
    }
}

/// <summary>
/// Per-thread working memory for searches and inserts: the visited set (generation-stamped, so that clearing it is
/// one increment, as in hnswlib's VisitedList), both heaps of Algorithm 2 and the query buffers. One instance per
/// thread is shared by every index, so thousands of partitions do not each keep their own pools; a thread runs one
/// search at a time, and no user code runs while one is in progress.
/// </summary>
internal sealed unsafe class SearchScratch
{
    [ThreadStatic]
    private static SearchScratch? t_current;

    private uint[] _visited = new uint[1024];
    private uint _generation;

    /// <summary>Max-heap on similarity: the candidates C still to expand (closest first).</summary>
    public Candidate[] Candidates = new Candidate[256];
    public int CandidateCount;

    /// <summary>Min-heap on similarity: the dynamic list W of the ef best found (worst on top).</summary>
    public Candidate[] Results = new Candidate[256];
    public int ResultCount;

    /// <summary>Copy of one neighbour list, read without taking the node's lock.</summary>
    public int[] Neighbors = new int[64];

    /// <summary>Working space of the neighbour-selection heuristic.</summary>
    public Candidate[] Work = new Candidate[256];
    public Candidate[] Selected = new Candidate[64];

    /// <summary>Pinned, so that the distance spaces can hold raw pointers to them.</summary>
    public float[] Query = GC.AllocateArray<float>(64, pinned: true);
    public sbyte[] QueryCodes = GC.AllocateArray<sbyte>(64, pinned: true);

    public static SearchScratch Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => t_current ??= new SearchScratch();
    }

    public float* QueryPointer(int dimension)
    {
        if (Query.Length < dimension)
        {
            Query = GC.AllocateArray<float>(dimension, pinned: true);
        }

        return (float*)Unsafe.AsPointer(ref Query[0]);
    }

    public sbyte* QueryCodesPointer(int dimension)
    {
        if (QueryCodes.Length < dimension)
        {
            QueryCodes = GC.AllocateArray<sbyte>(dimension, pinned: true);
        }

        return (sbyte*)Unsafe.AsPointer(ref QueryCodes[0]);
    }

    public void EnsureNeighbors(int size)
    {
        if (Neighbors.Length < size)
        {
            Neighbors = new int[size];
        }

        if (Selected.Length < size)
        {
            Selected = new Candidate[size];
        }
    }

    public void EnsureWork(int size)
    {
        if (Work.Length < size)
        {
            Work = new Candidate[Math.Max(size, Work.Length * 2)];
        }
    }

    /// <summary>Starts a new visited set able to hold slots below <paramref name="slotCount"/>.</summary>
    public void BeginVisit(int slotCount)
    {
        if (_visited.Length < slotCount)
        {
            _visited = new uint[Math.Max(slotCount, _visited.Length * 2)];
            _generation = 0;
        }

        if (++_generation == 0)
        {
            Array.Clear(_visited);
            _generation = 1;
        }

        CandidateCount = 0;
        ResultCount = 0;
    }

    /// <summary>Marks <paramref name="slot"/> visited and tells whether it already was.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryVisit(int slot)
    {
        uint[] visited = _visited;
        if ((uint)slot >= (uint)visited.Length)
        {
            // A node inserted after the search started can have a slot past the size taken at the start.
            GrowVisited(slot);
            visited = _visited;
        }

        ref uint stamp = ref visited[slot];
        if (stamp == _generation)
        {
            return false;
        }

        stamp = _generation;
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void GrowVisited(int slot)
    {
        uint[] bigger = new uint[Math.Max(slot + 1, _visited.Length * 2)];
        _visited.CopyTo(bigger, 0);
        _visited = bigger;
    }

    // ---- C: max-heap ----

    public void PushCandidate(float sim, int slot)
    {
        if (CandidateCount == Candidates.Length)
        {
            Array.Resize(ref Candidates, Candidates.Length * 2);
        }

        Candidate[] heap = Candidates;
        int i = CandidateCount++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (heap[parent].Sim >= sim)
            {
                break;
            }

            heap[i] = heap[parent];
            i = parent;
        }

        heap[i] = new Candidate(sim, slot);
    }

    public Candidate PopCandidate()
    {
        Candidate[] heap = Candidates;
        Candidate top = heap[0];
        Candidate last = heap[--CandidateCount];
        int n = CandidateCount;
        int i = 0;
        while (true)
        {
            int child = (2 * i) + 1;
            if (child >= n)
            {
                break;
            }

            if (child + 1 < n && heap[child + 1].Sim > heap[child].Sim)
            {
                child++;
            }

            if (heap[child].Sim <= last.Sim)
            {
                break;
            }

            heap[i] = heap[child];
            i = child;
        }

        if (n > 0)
        {
            heap[i] = last;
        }

        return top;
    }

    // ---- W: min-heap ----

    public void PushResult(float sim, int slot)
    {
        if (ResultCount == Results.Length)
        {
            Array.Resize(ref Results, Results.Length * 2);
        }

        Candidate[] heap = Results;
        int i = ResultCount++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (heap[parent].Sim <= sim)
            {
                break;
            }

            heap[i] = heap[parent];
            i = parent;
        }

        heap[i] = new Candidate(sim, slot);
    }

    public Candidate PopResult()
    {
        Candidate[] heap = Results;
        Candidate top = heap[0];
        Candidate last = heap[--ResultCount];
        int n = ResultCount;
        int i = 0;
        while (true)
        {
            int child = (2 * i) + 1;
            if (child >= n)
            {
                break;
            }

            if (child + 1 < n && heap[child + 1].Sim < heap[child].Sim)
            {
                child++;
            }

            if (heap[child].Sim >= last.Sim)
            {
                break;
            }

            heap[i] = heap[child];
            i = child;
        }

        if (n > 0)
        {
            heap[i] = last;
        }

        return top;
    }
}
