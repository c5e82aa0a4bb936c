namespace SemCache.Cache;

/// <summary>Whether the cache can take writes now (reads are served either way).</summary>
/// <param name="Writable">False while writes cannot be made durable, e.g. the data directory's disk is full.</param>
/// <param name="Reason">Why not, naming the path and the cause; null when writable.</param>
public sealed record CacheHealth(bool Writable, string? Reason)
{
    /// <summary>Writable, nothing to report.</summary>
    public static CacheHealth Ok { get; } = new(true, null);
}
