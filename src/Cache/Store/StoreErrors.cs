using SemCache.Storage;

namespace SemCache.Cache.Store;

/// <summary>Maps the store's own failures to the engine's error model (the host maps those to statuses).</summary>
internal static class StoreErrors
{
    /// <summary>The request error a store failure means, or null when it is not the caller's to know (a bug: rethrow).</summary>
    /// <param name="e">What the store threw.</param>
    /// <param name="prefix">How the batch's entries are named (<c>entries</c> in a SetMany, empty for one Set).</param>
    public static CacheRequestException? Map(Exception e, string prefix = "") => e switch
    {
        StoreUnavailableException unavailable => new CacheRequestException(
            CacheErrorKind.Unavailable,
            "request",
            unavailable.DiskFull
                ? $"the cache cannot store anything now: {unavailable.Message} This request was not stored durably (not acknowledged); lookups are still served. Free space on that disk; writes resume by themselves."
                : $"the cache cannot store anything now: {unavailable.Message} This request was not stored durably (not acknowledged); lookups are still served; retry later."),
        EntryTooLargeException large => new CacheRequestException(
            CacheErrorKind.ResourceExhausted,
            prefix.Length == 0 ? "request" : $"{prefix}[{large.Index}]",
            $"the entry is {large.Bytes} bytes stored, above the limit of {large.Limit} (Storage:MaxEntryBytes)."),
        ObjectDisposedException => new CacheRequestException(CacheErrorKind.Unavailable, "request", "the cache is shutting down; retry against another instance or after the restart."),
        _ => null,
    };
}
