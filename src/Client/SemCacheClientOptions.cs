namespace SemCache.Client;

/// <summary>How a <see cref="SemCacheClient"/> reaches the cache and what it does when the cache is down or slow.</summary>
public sealed class SemCacheClientOptions
{
    /// <summary>The server's gRPC address. Default <c>http://127.0.0.1:50051</c>.</summary>
    public Uri Address { get; set; } = new("http://127.0.0.1:50051");

    /// <summary>The namespace of every call that does not name its own. Default empty (the server's <c>default</c>).</summary>
    public string Namespace { get; set; } = "";

    /// <summary>
    /// The most a cache call may take, retries included: one deadline per call. Default 500 ms, well under a model call, so
    /// that a slow cache never makes the application slow.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// When the cache is down, slow or answers an error, Get returns a miss marked <see cref="CacheLookup.Failed"/> and Set
    /// returns without storing, instead of throwing <see cref="SemCacheException"/>. Default true. The caller's cancellation is
    /// always thrown.
    /// </summary>
    public bool FailOpen { get; set; } = true;

    /// <summary>Retries of a call that failed with a transient error (UNAVAILABLE), within <see cref="Timeout"/>. Default 2.</summary>
    public int MaxRetries { get; set; } = 2;

    /// <summary>The first retry's median delay; later ones grow exponentially, with jitter. Default 20 ms.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// The HTTP handler the channel sends through, e.g. an in-process test server's; null for a socket handler of its own. Default
    /// null. Not disposed by the client. Used by <c>new SemCacheClient(options)</c> only.
    /// </summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Address);
        ArgumentNullException.ThrowIfNull(Namespace);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Timeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRetries);
        ArgumentOutOfRangeException.ThrowIfLessThan(RetryDelay, TimeSpan.Zero);
    }
}
