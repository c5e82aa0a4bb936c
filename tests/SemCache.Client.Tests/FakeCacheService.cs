using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using SemCache.Protocol.V1;

namespace SemCache.Client.Tests;

/// <summary>
/// A stand-in SemanticCache service for the client's failure handling only: it fails its first calls with UNAVAILABLE, or
/// never answers, as a test sets it up. Everything else about the client is tested against the real server.
/// </summary>
public sealed class FakeCacheService : SemanticCache.SemanticCacheBase
{
    private int _calls;

    /// <summary>Calls that fail with UNAVAILABLE before one is answered.</summary>
    public int FailFirst { get; set; }

    /// <summary>Never answer: wait until the client gives up.</summary>
    public bool Hang { get; set; }

    /// <summary>Gets find nothing.</summary>
    public bool Miss { get; set; }

    /// <summary>Sets fail with UNAVAILABLE (Gets are answered).</summary>
    public bool FailSets { get; set; }

    public int Calls => Volatile.Read(ref _calls);

    public override Task<GetResponse> Get(GetRequest request, ServerCallContext context) => Miss
        ? Task.FromResult(new GetResponse())
        : AnswerAsync(() => new GetResponse { Hit = true, Matches = { new Match { Id = "1", Prompt = request.Prompt, Response = "cached", Similarity = 1, Exact = true } } }, context);

    public override Task<SetResponse> Set(SetRequest request, ServerCallContext context) => FailSets
        ? throw new RpcException(new Status(StatusCode.Unavailable, "disk full"))
        : AnswerAsync(() => new SetResponse { Id = "1" }, context);

    public override Task<DeleteResponse> Delete(DeleteRequest request, ServerCallContext context) => AnswerAsync(() => new DeleteResponse { Deleted = 1 }, context);

    private async Task<T> AnswerAsync<T>(Func<T> answer, ServerCallContext context)
    {
        int call = Interlocked.Increment(ref _calls);
        if (Hang)
        {
            await Task.Delay(Timeout.Infinite, context.CancellationToken);
        }

        if (call <= FailFirst)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "not yet"));
        }

        return answer();
    }
}

/// <summary>Hosts a <see cref="FakeCacheService"/> in process.</summary>
public sealed class FakeCacheHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    public FakeCacheHost(FakeCacheService service)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(service);
        _app = builder.Build();
        _app.MapGrpcService<FakeCacheService>();
        _app.StartAsync().GetAwaiter().GetResult();
        Handler = _app.GetTestServer().CreateHandler();
    }

    public HttpMessageHandler Handler { get; }

    public SemCacheClient NewClient(Action<SemCacheClientOptions>? configure = null)
    {
        var options = new SemCacheClientOptions { Address = new Uri("http://localhost"), HttpHandler = Handler, RetryDelay = TimeSpan.FromMilliseconds(1) };
        configure?.Invoke(options);
        return new SemCacheClient(options);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
