using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using SemCache.CacheServer;

namespace SemCache.Testing;

/// <summary>
/// A real SemCache server in process on a TestServer, over a data directory of its own that is deleted with it, for the
/// test projects of its clients (they set UsesServer).
/// </summary>
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

    /// <summary>The in-process server's handler (clients made on it must not dispose it).</summary>
    public HttpMessageHandler Handler { get; }

    public static InProcessServer Start()
    {
        string dataDirectory = Path.Combine(Path.GetTempPath(), "semcache-test-server-" + Guid.NewGuid().ToString("N"));
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
