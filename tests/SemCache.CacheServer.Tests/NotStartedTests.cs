using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SemCache.Protocol.V1;

namespace SemCache.CacheServer.Tests;

/// <summary>A call that reaches the service before the engine is open (or after it closed) is UNAVAILABLE: retry later.</summary>
public sealed class NotStartedTests
{
    [Fact]
    public async Task ACallBeforeTheEngineIsOpenIsUnavailable()
    {
        var host = new CacheEngineHost(null!, Options.Create(new SemCache.Cache.CacheOptions()), Options.Create(new SemCache.Storage.EntryStoreOptions()), Options.Create(new SemCache.Index.VectorIndexOptions { Dimension = 1 }),
            new Microsoft.Extensions.Hosting.Internal.ApplicationLifetime(NullLogger<Microsoft.Extensions.Hosting.Internal.ApplicationLifetime>.Instance), new SemCache.Cache.Telemetry.CacheTelemetry(), NullLoggerFactory.Instance);
        var service = new Services.SemanticCacheService(host, null!, Options.Create(new ServerOptions()));
        RpcException set = await Assert.ThrowsAsync<RpcException>(() => service.Set(new SetRequest { Prompt = "p", Response = "r" }, null!));
        Assert.Equal(StatusCode.Unavailable, set.StatusCode);
        Assert.Equal("request", Errors.Field(set));
        RpcException stats = await Assert.ThrowsAsync<RpcException>(() => service.Stats(new StatsRequest(), null!));
        Assert.Equal(StatusCode.Unavailable, stats.StatusCode);
    }
}
