namespace SemCache.Index;

/// <summary>
/// One entry of a <see cref="PartitionedIndex"/>: the index behind a partition (a flat scan swapped once for a graph)
/// and the count that decides when it may be freed.
/// </summary>
/// <remarks>
/// <para>Every call that touches the index enters the slot first and exits it afterwards; the index is disposed only
/// once the slot is retired and no call is inside, so a search never reads memory that was freed under it (the
/// memory-mapped rescoring rows of an int8 graph are unmapped on dispose). Entering and exiting are one interlocked add
/// each: readers take no lock and never wait.</para>
/// <para>One 64-bit word holds the whole state, so that "empty and idle" is one value and retiring an empty slot is one
/// compare-and-swap that a concurrent add cannot slip past: bit 63 is set once the slot is retired, bits 32-62 count
/// its vectors and bits 0-31 the calls inside. The call whose exit leaves the word at 0 (no vector, nobody inside)
/// swaps in the retired bit and frees the index; an add that enters after that sees the bit, leaves, and goes to a new
/// slot, so it is never lost into a retired one. <see cref="Retire"/> (a whole-partition drop) sets the bit whatever
/// the count; then whoever leaves the slot last frees the index.</para>
/// </remarks>
internal sealed class PartitionSlot
{
    private const long RetiredBit = long.MinValue;
    private const long CallMask = 0xFFFF_FFFFL;
    private const long OneVector = 1L << 32;

    private long _state;
    private IVectorPartitionIndex _index;
    private int _released;

    /// <summary>
    /// A new, empty slot already entered once by its creator (who must <see cref="Exit"/>): nobody else can retire it
    /// before the creator's first add, however quickly another call finds it empty.
    /// </summary>
    public PartitionSlot(VectorIndexOptions options)
    {
        _index = options.FlatScanThreshold == 0 ? new HnswIndex(options) : new FlatIndex(options);
        _state = 1;
    }

    /// <summary>A slot over a loaded index.</summary>
    public PartitionSlot(IVectorPartitionIndex index)
    {
        _index = index;
        _state = (long)index.Count * OneVector;
    }

    /// <summary>The current index; read it only between a successful <see cref="TryEnter"/> and its <see cref="Exit"/>.</summary>
    public IVectorPartitionIndex Index => Volatile.Read(ref _index);

    /// <summary>Counts a call in; <see langword="false"/> when the slot is retired (treat the partition as absent).</summary>
    public bool TryEnter()
    {
        if (Interlocked.Increment(ref _state) >= 0)
        {
            return true;
        }

        Exit();
        return false;
    }

    /// <summary>Counts a call out; frees the index if this was the last call into a retired slot.</summary>
    /// <returns><see langword="true"/> when this exit found the slot empty and retired it (the caller unlists it).</returns>
    public bool Exit()
    {
        long state = Interlocked.Decrement(ref _state);
        if ((state & CallMask) != 0)
        {
            return false;
        }

        if (state == 0)
        {
            // No vector and nobody inside: retire, unless a call entered (or a vector arrived) since the decrement.
            if (Interlocked.CompareExchange(ref _state, RetiredBit, 0) == 0)
            {
                Release();
                return true;
            }
        }
        else if (state < 0)
        {
            Release();
        }

        return false;
    }

    /// <summary>Retires the slot whatever it holds; the index is freed when the last call inside leaves.</summary>
    /// <returns><see langword="false"/> when it was already retired.</returns>
    public bool Retire()
    {
        long before = Interlocked.Or(ref _state, RetiredBit);
        if (before < 0)
        {
            return false;
        }

        if ((before & CallMask) == 0)
        {
            Release();
        }

        return true;
    }

    // ------------------------------------------------------------------ writes (caller has entered)

    public bool TryAdd(long id, ReadOnlySpan<float> vector)
    {
        while (true)
        {
            IVectorPartitionIndex index = Index;
            switch (index.TryAdd(id, vector))
            {
                case WriteOutcome.Applied:
                    if (index.Successor is { } built)
                    {
                        // This add built the graph: publish it (a writer that saw Superseded may have done so already).
                        Interlocked.CompareExchange(ref _index, built, index);
                    }

                    Interlocked.Add(ref _state, OneVector);
                    return true;
                case WriteOutcome.Unchanged:
                    return false;
                default:
                    Interlocked.CompareExchange(ref _index, index.Successor!, index);
                    break;
            }
        }
    }

    public bool Remove(long id)
    {
        while (true)
        {
            IVectorPartitionIndex index = Index;
            switch (index.Remove(id))
            {
                case WriteOutcome.Applied:
                    Interlocked.Add(ref _state, -OneVector);
                    return true;
                case WriteOutcome.Unchanged:
                    return false;
                default:
                    Interlocked.CompareExchange(ref _index, index.Successor!, index);
                    break;
            }
        }
    }

    private void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            IVectorPartitionIndex index = Index;
            index.Dispose();
            index.Successor?.Dispose();
        }
    }
}
