namespace SemCache.Storage;

/// <summary>Chooses which entry to evict when the store is over its limits (called under the store's write lock).</summary>
internal sealed class EvictionSampler
{
    private readonly EntryStoreOptions _options;
    private readonly Random _sampler = new(0x5E5C);

    public EvictionSampler(EntryStoreOptions options)
    {
        _options = options;
    }

    /// <summary>
    /// Sampled eviction (as Redis does): the best of <see cref="EntryStoreOptions.EvictionSampleSize"/> random entries,
    /// exact when the store holds no more than that. O(sample) per eviction, no list to maintain on every hit.
    /// </summary>
    public EntryMeta? Choose(EntryDirectory directory, EntryMeta exclude)
    {
        var count = directory.Count;
        var sample = _options.EvictionSampleSize;
        EntryMeta? best = null;
        long bestKey = long.MaxValue;
        var exhaustive = count <= sample;
        var draws = exhaustive ? count : sample;
        for (var i = 0; i < draws; i++)
        {
            var meta = directory[exhaustive ? i : _sampler.Next(count)];
            if (ReferenceEquals(meta, exclude))
            {
                continue;
            }

            var key = _options.Eviction == EvictionPolicy.Oldest ? meta.CreatedMs : Volatile.Read(ref meta.LastHitMs);
            if (best is null || key < bestKey || (key == bestKey && meta.Id < best.Id))
            {
                best = meta;
                bestKey = key;
            }
        }

        if (best is null && !exhaustive)
        {
            // Every draw hit the excluded entry: fall back to an exhaustive pass.
            for (var i = 0; i < count; i++)
            {
                if (!ReferenceEquals(directory[i], exclude))
                {
                    return directory[i];
                }
            }
        }

        return best;
    }
}
