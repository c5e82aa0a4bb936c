using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace SemCache.Client.Tests;

/// <summary>The client against the real in-process server, and its failure handling against a closed port and a fake service.</summary>
public sealed class SemCacheClientTests(ServerFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task SetThenGetGivesExactThenSemanticHitsWithTheirUsage()
    {
        using SemCacheClient client = fixture.NewClient();
        var attributes = new Dictionary<string, string> { ["model"] = "gpt-4o" };
        CacheStored stored = await client.SetAsync(
            new CacheEntry { Prompt = "How do I reset my password?", Response = "Use the Forgot password link.", Attributes = attributes, Usage = new CacheUsage("gpt-4o", 12, 40) }, Ct);
        Assert.False(stored.Failed);
        Assert.NotEmpty(stored.Id);

        CacheLookup exact = await client.GetAsync(new CacheQuery { Prompt = "How do I reset my password?", Attributes = attributes }, Ct);
        Assert.True(exact.IsHit);
        Assert.True(exact.Best!.Exact);
        Assert.Equal(stored.Id, exact.Best.Id);
        Assert.Equal(new CacheUsage("gpt-4o", 12, 40), exact.Best.Usage);

        CacheLookup paraphrase = await client.GetAsync(new CacheQuery { Prompt = "How can I reset my password?", Attributes = attributes }, Ct);
        Assert.True(paraphrase.IsHit);
        Assert.False(paraphrase.Best!.Exact);
        Assert.Equal("Use the Forgot password link.", paraphrase.Best.Response);

        CacheLookup otherModel = await client.GetAsync(new CacheQuery { Prompt = "How do I reset my password?", Attributes = new Dictionary<string, string> { ["model"] = "other" } }, Ct);
        Assert.False(otherModel.IsHit);
        Assert.False(otherModel.Failed);

        CacheStatistics stats = await client.StatsAsync(client.Namespace, Ct);
        Assert.Equal(3, stats.Gets);
        Assert.Equal(2 * 52, stats.TokensSaved);
        Assert.True(stats.CostSavedUsd > 0, "gpt-4o is in the shipped price table");
        Assert.Equal(0, stats.UnpricedTokens);

        CacheStored local = await client.SetAsync(
            new CacheEntry { Prompt = "What is the capital of France?", Response = "Paris.", Usage = new CacheUsage("my-local-model", 7, 3) }, Ct);
        Assert.True((await client.GetAsync(new CacheQuery { Prompt = "What is the capital of France?" }, Ct)).IsHit);
        CacheStatistics withUnpriced = await client.StatsAsync(client.Namespace, Ct);
        Assert.Equal(2 * 52 + 10, withUnpriced.TokensSaved);
        Assert.Equal(10, withUnpriced.UnpricedTokens);
        Assert.Equal(stats.CostSavedUsd, withUnpriced.CostSavedUsd, 12);
        Assert.Equal(1, await client.DeleteAsync(local.Id, cancellationToken: Ct));

        Assert.Equal(1, await client.DeleteAsync(stored.Id, cancellationToken: Ct));
        Assert.False((await client.GetAsync(new CacheQuery { Prompt = "How do I reset my password?", Attributes = attributes }, Ct)).IsHit);
        Assert.Equal(0, client.FailureCount);
    }

    [Fact]
    public async Task ConversationsSetManyAndEmbedGoThrough()
    {
        using SemCacheClient client = fixture.NewClient();
        CacheMessage[] conversation = [new("system", "You are terse."), new("user", "What is the capital of France?")];
        IReadOnlyList<CacheStored> stored = await client.SetManyAsync(
            [new CacheEntry { Messages = conversation, Response = "Paris." }, new CacheEntry { Prompt = "Capital of Italy?", Response = "Rome." }], Ct);
        Assert.Equal(2, stored.Count);
        Assert.All(stored, s => Assert.False(s.Failed));

        CacheLookup same = await client.GetAsync(new CacheQuery { Messages = conversation }, Ct);
        Assert.Equal("Paris.", same.Best?.Response);
        CacheLookup otherContext = await client.GetAsync(new CacheQuery { Messages = [new("system", "You are verbose."), conversation[1]] }, Ct);
        Assert.False(otherContext.IsHit);

        CacheEmbeddings embeddings = await client.EmbedAsync(["one", "two"], Ct);
        Assert.Equal(2, embeddings.Vectors.Count);
        Assert.Equal(384, embeddings.Vectors[0].Length);
    }

    [Fact]
    public async Task AClosedPortFailsOpenAndIsCounted()
    {
        using SemCacheClient client = new(new SemCacheClientOptions { Address = new Uri($"http://127.0.0.1:{ClosedPort()}"), Timeout = TimeSpan.FromSeconds(10) });
        var counted = new List<(long Value, string? Method, string? Status)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == SemCacheClient.MeterName && instrument.Name == "semcache.client.failures")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            string? method = null, status = null;
            foreach (KeyValuePair<string, object?> t in tags)
            {
                method = t.Key == "method" ? t.Value as string : method;
                status = t.Key == "status" ? t.Value as string : status;
            }

            lock (counted)
            {
                counted.Add((value, method, status));
            }
        });
        listener.Start();

        CacheLookup lookup = await client.GetAsync(new CacheQuery { Prompt = "anything" }, Ct);
        Assert.False(lookup.IsHit);
        Assert.True(lookup.Failed);
        Assert.Equal(StatusCode.Unavailable, lookup.Error!.StatusCode);

        CacheStored stored = await client.SetAsync(new CacheEntry { Prompt = "anything", Response = "x" }, Ct);
        Assert.True(stored.Failed);
        Assert.Equal(2, client.FailureCount);
        lock (counted)
        {
            // Every client's meter is named SemCache.Client, and other tests' clients fail at the same time: look for these two.
            Assert.Contains((1L, "Get", "Unavailable"), counted);
            Assert.Contains((1L, "Set", "Unavailable"), counted);
        }
    }

    [Fact]
    public async Task FailOpenOffThrowsATypedException()
    {
        using SemCacheClient client = new(new SemCacheClientOptions { Address = new Uri($"http://127.0.0.1:{ClosedPort()}"), FailOpen = false, Timeout = TimeSpan.FromSeconds(10) });

        SemCacheException e = await Assert.ThrowsAsync<SemCacheException>(() => client.GetAsync(new CacheQuery { Prompt = "anything" }, Ct));
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        await Assert.ThrowsAsync<SemCacheException>(() => client.SetAsync(new CacheEntry { Prompt = "anything", Response = "x" }, Ct));
        Assert.Equal(2, client.FailureCount);
    }

    [Fact]
    public async Task StatsAndEmbedThrowEvenWhenFailingOpen()
    {
        using SemCacheClient client = new(new SemCacheClientOptions { Address = new Uri($"http://127.0.0.1:{ClosedPort()}"), Timeout = TimeSpan.FromSeconds(10) });
        await Assert.ThrowsAsync<SemCacheException>(() => client.StatsAsync(cancellationToken: Ct));
        await Assert.ThrowsAsync<SemCacheException>(() => client.EmbedAsync(["x"], Ct));
    }

    [Fact]
    public async Task ATransientFailureIsRetriedWithinTheDeadline()
    {
        var service = new FakeCacheService { FailFirst = 1 };
        await using var host = new FakeCacheHost(service);
        using SemCacheClient client = host.NewClient(o => o.Timeout = TimeSpan.FromSeconds(30));

        CacheLookup lookup = await client.GetAsync(new CacheQuery { Prompt = "q" }, Ct);
        Assert.True(lookup.IsHit);
        Assert.Equal(2, service.Calls);
        Assert.Equal(0, client.FailureCount);
    }

    [Fact]
    public async Task RetriesStopAtMaxRetries()
    {
        var service = new FakeCacheService { FailFirst = int.MaxValue };
        await using var host = new FakeCacheHost(service);
        using SemCacheClient client = host.NewClient(o => (o.Timeout, o.MaxRetries) = (TimeSpan.FromSeconds(30), 3));

        CacheLookup lookup = await client.GetAsync(new CacheQuery { Prompt = "q" }, Ct);
        Assert.True(lookup.Failed);
        Assert.Equal(StatusCode.Unavailable, lookup.Error!.StatusCode);
        Assert.Equal(4, service.Calls);
        Assert.Equal(1, client.FailureCount);
    }

    [Fact]
    public async Task ADeleteOfAPartitionIsNotRetried()
    {
        var service = new FakeCacheService { FailFirst = int.MaxValue };
        await using var host = new FakeCacheHost(service);
        using SemCacheClient client = host.NewClient(o => o.Timeout = TimeSpan.FromSeconds(30));

        await Assert.ThrowsAsync<SemCacheException>(() => client.DeletePartitionAsync(new Dictionary<string, string> { ["model"] = "m" }, cancellationToken: Ct));
        Assert.Equal(1, service.Calls);
    }

    [Fact]
    public async Task ASlowServerTimesOutAndFailsOpen()
    {
        var service = new FakeCacheService { Hang = true };
        await using var host = new FakeCacheHost(service);
        using SemCacheClient client = host.NewClient(o => o.Timeout = TimeSpan.FromMilliseconds(200));

        CacheLookup lookup = await client.GetAsync(new CacheQuery { Prompt = "q" }, Ct);
        Assert.True(lookup.Failed);
        Assert.Equal(StatusCode.DeadlineExceeded, lookup.Error!.StatusCode);
        CacheStored stored = await client.SetAsync(new CacheEntry { Prompt = "q", Response = "r" }, Ct);
        Assert.True(stored.Failed);
        Assert.Equal(2, client.FailureCount);
    }

    [Fact]
    public async Task TheCallersCancellationIsThrownNotFailedOpen()
    {
        var service = new FakeCacheService { Hang = true };
        await using var host = new FakeCacheHost(service);
        using SemCacheClient client = host.NewClient(o => o.Timeout = TimeSpan.FromMinutes(5));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        Task<CacheLookup> lookup = client.GetAsync(new CacheQuery { Prompt = "q" }, cts.Token);
        while (service.Calls == 0)
        {
            await Task.Delay(10, Ct);
        }

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => lookup);
        Assert.Equal(0, client.FailureCount);
    }

    [Fact]
    public async Task DependencyInjectionRegistersAClientWithItsOptions()
    {
        var services = new ServiceCollection();
        services.AddSemCacheClient(o => (o.Address, o.Namespace, o.Timeout) = (new Uri($"http://127.0.0.1:{ClosedPort()}"), "app", TimeSpan.FromSeconds(10)));
        await using ServiceProvider provider = services.BuildServiceProvider();

        SemCacheClient client = provider.GetRequiredService<SemCacheClient>();
        Assert.Same(client, provider.GetRequiredService<SemCacheClient>());
        Assert.Equal("app", client.Namespace);
        CacheLookup lookup = await client.GetAsync(new CacheQuery { Prompt = "q" }, Ct);
        Assert.True(lookup.Failed);
        Assert.Equal(1, client.FailureCount);
    }

    /// <summary>A loopback port that was just free and is closed now: nothing listens on it.</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
