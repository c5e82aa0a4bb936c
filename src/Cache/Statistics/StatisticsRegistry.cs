using System.Collections.Concurrent;

namespace SemCache.Cache.Statistics;

/// <summary>
/// The cache's counters since start: one set for the whole cache and one per namespace that has held entries.
/// Bounded: a lookup or a statistics request for a namespace that holds nothing creates no state, and past
/// <see cref="MaxNamespaces"/> tracked namespaces those whose entries are all gone are dropped to make room (their
/// counts then start again from zero if they come back); a namespace that finds no room is counted in the totals only.
/// </summary>
internal sealed class StatisticsRegistry(Func<string, long> entriesInNamespace, int maxNamespaces = StatisticsRegistry.DefaultMaxNamespaces)
{
    public const int DefaultMaxNamespaces = 10_000;

    private readonly ConcurrentDictionary<string, Counters> _byName = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<ulong, Counters> _byHash = new();
    private readonly Lock _pruning = new();
    private long _nextPruneTimestamp;

    public Counters Total { get; } = new();

    public int MaxNamespaces => maxNamespaces;

    public int TrackedNamespaces => _byName.Count;

    /// <summary>The namespace's counters if it is tracked (lookups: no state for namespaces that hold nothing).</summary>
    public Counters? Find(string ns) => _byName.TryGetValue(ns, out Counters? counters) ? counters : null;

    /// <summary>The namespace's counters, created for a namespace that is written to; null when there is no room.</summary>
    public Counters? ForWrite(string ns, ulong namespaceHash)
    {
        if (_byName.TryGetValue(ns, out Counters? counters))
        {
            return counters;
        }

        if (_byName.Count >= maxNamespaces && !Prune())
        {
            return null;
        }

        counters = _byName.GetOrAdd(ns, static _ => new Counters());
        _byHash[namespaceHash] = counters;
        return counters;
    }

    /// <summary>The counters of a namespace named by its hash (removals report the hash only).</summary>
    public Counters? FindByHash(ulong namespaceHash) => _byHash.TryGetValue(namespaceHash, out Counters? counters) ? counters : null;

    // Drops every tracked namespace that holds no entries; true if that made room. A prune that freed nothing is not
    // tried again for a second, so a full registry of busy namespaces costs a lookup per call, not a scan.
    private bool Prune()
    {
        lock (_pruning)
        {
            if (_byName.Count < maxNamespaces)
            {
                return true;
            }

            long now = System.Diagnostics.Stopwatch.GetTimestamp();
            if (now < _nextPruneTimestamp)
            {
                return false;
            }

            foreach ((string ns, Counters counters) in _byName)
            {
                if (entriesInNamespace(ns) == 0 && _byName.TryRemove(ns, out _))
                {
                    foreach ((ulong hash, Counters c) in _byHash)
                    {
                        if (ReferenceEquals(c, counters))
                        {
                            _byHash.TryRemove(hash, out _);
                        }
                    }
                }
            }

            bool room = _byName.Count < maxNamespaces;
            _nextPruneTimestamp = room ? 0 : now + System.Diagnostics.Stopwatch.Frequency;
            return room;
        }
    }
}

/// <summary>Counters of the cache or of one namespace.</summary>
internal sealed class Counters
{
#pragma warning disable SA1401, CA1051 // Fields, for Interlocked.
    public long Gets;
    public long ExactHits;
    public long SemanticHits;
    public long Misses;
    public long Sets;
    public long Evictions;
    public long Expirations;
    public long TokensSaved;
    public long UnpricedTokens;
    private long _costMicroCents;
#pragma warning restore SA1401, CA1051

    public void AddCost(double usd) => Interlocked.Add(ref _costMicroCents, (long)Math.Round(usd * 1e8));

    public CacheStatistics Snapshot(long entries) => new(
        entries,
        Interlocked.Read(ref Gets),
        Interlocked.Read(ref ExactHits),
        Interlocked.Read(ref SemanticHits),
        Interlocked.Read(ref Misses),
        Interlocked.Read(ref Sets),
        Interlocked.Read(ref Evictions),
        Interlocked.Read(ref Expirations),
        Interlocked.Read(ref TokensSaved),
        Interlocked.Read(ref _costMicroCents) / 1e8)
    {
        UnpricedTokens = Interlocked.Read(ref UnpricedTokens),
    };
}
