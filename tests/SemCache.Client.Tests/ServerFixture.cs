using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using SemCache.CacheServer;
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

/// <summary>A real SemCache server in process, over a data directory of its own that is deleted with it.</summary>
public sealed class InProcessServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _dataDirectory;
    private bool _stopped;

    private InProcessServer(WebApplication app, string dataDirectory)
    {
        _app = app;
        _dataDirectory = dataDirectory;
        Handler = app.GetTestServer().CreateHandler();
    }

    public HttpMessageHandler Handler { get; }

    public static InProcessServer Start()
    {
        string dataDirectory = Path.Combine(Path.GetTempPath(), "semcache-client-test-" + Guid.NewGuid().ToString("N"));
        WebApplication app = SemCacheServer.Build(["--data-dir", dataDirectory], builder => builder.WebHost.UseTestServer());
        app.StartAsync().GetAwaiter().GetResult();
        return new InProcessServer(app, dataDirectory);
    }

    /// <summary>Stops the server: calls through <see cref="Handler"/> fail from now on.</summary>
    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Directory.Delete(_dataDirectory, recursive: true);
    }
}
