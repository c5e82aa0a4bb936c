using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using SemCache.CacheServer;
using SemCache.CacheServer.Tests;

[assembly: AssemblyFixture(typeof(ServerFixture))]

namespace SemCache.CacheServer.Tests;

/// <summary>The real server, in process on a TestServer, with the bundled model loaded once for all tests.</summary>
public sealed class ServerFixture : IAsyncDisposable
{
    private readonly WebApplication _app;

    public ServerFixture()
    {
        _app = SemCacheServer.Build([], builder => builder.WebHost.UseTestServer());
        _app.StartAsync().GetAwaiter().GetResult();
        Channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = _app.GetTestServer().CreateHandler() });
    }

    public GrpcChannel Channel { get; }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
