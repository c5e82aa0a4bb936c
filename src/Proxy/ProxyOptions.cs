namespace SemCache.Proxy;

/// <summary>
/// The caching proxy (section <c>Proxy</c>): OpenAI- and Anthropic-compatible endpoints on the HTTP port. Every default
/// is stated on its property.
/// </summary>
public sealed class ProxyOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Proxy";

    /// <summary>Serve <c>/v1/chat/completions</c>, <c>/v1/messages</c> and forward other <c>/v1/</c> calls. Default: true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The namespace of the proxy's entries when a request has no <c>x-semcache-namespace</c> header. Default: empty, the
    /// engine's <c>default</c> namespace.
    /// </summary>
    public string Namespace { get; set; } = "";

    /// <summary>
    /// Let callers with different credentials share answers (one-tenant deployments). Default: false: entries are
    /// partitioned by a hash of the caller's credential headers, so two API keys never see each other's answers.
    /// </summary>
    public bool ShareAcrossCredentials { get; set; }

    /// <summary>
    /// How long a request waits for an identical request's provider call already in flight before it calls the provider
    /// itself. Default: 30 seconds. Zero turns single flight off.
    /// </summary>
    public TimeSpan SingleFlightTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long opening a connection to a provider may take. Default: 10 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The OpenAI-compatible provider (section <c>Proxy:OpenAI</c>).</summary>
    public UpstreamOptions OpenAI { get; set; } = new() { BaseUrl = "https://api.openai.com/v1" };

    /// <summary>The Anthropic provider (section <c>Proxy:Anthropic</c>).</summary>
    public UpstreamOptions Anthropic { get; set; } = new() { BaseUrl = "https://api.anthropic.com/v1" };
}

/// <summary>One provider the proxy forwards to.</summary>
public sealed class UpstreamOptions
{
    /// <summary>
    /// The provider's base address, up to and including its version segment (<c>https://api.openai.com/v1</c>); a call to
    /// the proxy's <c>/v1/&lt;path&gt;</c> goes to <c>BaseUrl/&lt;path&gt;</c>.
    /// </summary>
    public string BaseUrl { get; set; } = "";

    /// <summary>
    /// The longest a call to the provider may take, streamed or not, from sending the request to the last byte of the
    /// answer; past it the caller gets 504 (or, mid-stream, a cut stream, which is never stored). Default: 10 minutes.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(10);
}
