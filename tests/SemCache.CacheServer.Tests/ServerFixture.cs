using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using SemCache.CacheServer;
using SemCache.CacheServer.Tests;

[assembly: AssemblyFixture(typeof(ServerFixture))]

namespace SemCache.CacheServer.Tests;

/// <summary>The real server, in process on a TestServer over its own data directory, with the model loaded once for all tests.</summary>
public sealed class ServerFixture : IAsyncDisposable
{
    private readonly WebApplication _app;

    public ServerFixture()
    {
        DataDirectory = Path.Combine(Path.GetTempPath(), "semcache-server-test-" + Guid.NewGuid().ToString("N"));
        _app = SemCacheServer.Build(["--data-dir", DataDirectory], builder => builder.WebHost.UseTestServer());
        _app.StartAsync().GetAwaiter().GetResult();
        Handler = _app.GetTestServer().CreateHandler();
        Channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = Handler });
        Http = _app.GetTestServer().CreateClient();
    }

    public string DataDirectory { get; }

    public GrpcChannel Channel { get; }

    /// <summary>The in-process server's handler, for hand-built HTTP/2 requests (clients made on it must not dispose it).</summary>
    public HttpMessageHandler Handler { get; }

    public HttpClient Http { get; }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Directory.Delete(DataDirectory, recursive: true);
    }
}
