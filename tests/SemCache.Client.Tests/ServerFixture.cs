using SemCache.Client;
using SemCache.Client.Tests;

[assembly: AssemblyFixture(typeof(ServerFixture))]

namespace SemCache.Client.Tests;

/// <summary>The real server, in process on a TestServer over its own data directory, with the model loaded once for all tests.</summary>
public sealed class ServerFixture : IAsyncDisposable
{
    private readonly InProcessServer _server = InProcessServer.Start();

    /// <summary>The in-process server's handler (clients made on it must not dispose it).</summary>
    public HttpMessageHandler Handler => _server.Handler;

    /// <summary>A client of the shared server in a namespace of its own, so that tests do not see each other's entries.</summary>
    public SemCacheClient NewClient(Action<SemCacheClientOptions>? configure = null)
    {
        var options = new SemCacheClientOptions
        {
            Address = new Uri("http://localhost"),
            HttpHandler = Handler,
            Namespace = "t" + Guid.NewGuid().ToString("N")[..12],
            // The in-process server on a small shared machine: generous, since these tests are about behaviour, not speed.
            Timeout = TimeSpan.FromSeconds(30),
        };
        configure?.Invoke(options);
        return new SemCacheClient(options);
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
