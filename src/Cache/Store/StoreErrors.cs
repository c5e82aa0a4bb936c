namespace SemCache.Cache.Store;

/// <summary>Maps the store's own failures to the engine's error model (the host maps those to statuses).</summary>
internal static class StoreErrors
{
    /// <summary>The request error a store failure means, or null when it is not the caller's to know (a bug: rethrow).</summary>
    public static CacheRequestException? Map(Exception e, string prefix = "") => e switch
    {
        ObjectDisposedException => new CacheRequestException(CacheErrorKind.Unavailable, "request", "the cache is shutting down; retry against another instance or after the restart."),
        _ => null,
    };
}

/// <summary>Rethrow helper for expressions.</summary>
internal static class ExceptionExtensions
{
    /// <summary>Rethrows <paramref name="e"/> keeping its stack trace; never returns.</summary>
    public static Exception Rethrow(this Exception e)
    {
        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e).Throw();
        return e;
    }
}
