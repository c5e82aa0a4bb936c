using Grpc.Core;
using Grpc.Health.V1;
using SemCache.Protocol.V1;

namespace SemCache.CacheServer.Tests;

public sealed class EmbedServiceTests(ServerFixture fixture)
{
    private readonly SemanticCache.SemanticCacheClient _client = new(fixture.Channel);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EmbedReturnsThePublishedVectorsInOrder()
    {
        EmbedResponse response = await _client.EmbedAsync(new EmbedRequest { Texts = { "This is an example sentence", "hello world" } }, cancellationToken: Ct);
        Assert.Equal("all-MiniLM-L6-v2", response.Model);
        Assert.Equal(2, response.Vectors.Count);
        Assert.Equal(384, response.Vectors[0].Values.Count);
        Assert.Equal(0.06765693, response.Vectors[0].Values[0], 1e-4);
        Assert.Equal(-0.0344772786, response.Vectors[1].Values[0], 1e-4);
        Assert.Equal([false, false], response.Truncated);
    }

    [Fact]
    public async Task EmbedFlagsTextsLongerThanTheWindow()
    {
        string longText = string.Join(' ', Enumerable.Repeat("word", 400));
        EmbedResponse response = await _client.EmbedAsync(new EmbedRequest { Texts = { "short", longText } }, cancellationToken: Ct);
        Assert.Equal([false, true], response.Truncated);
    }

    [Fact]
    public async Task AnEmptyRequestIsInvalidAndNamesTheField()
    {
        RpcException e = await Assert.ThrowsAsync<RpcException>(() => _client.EmbedAsync(new EmbedRequest(), cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Equal("texts", Errors.Field(e));
    }

    [Fact]
    public async Task TooManyTextsExhaustTheLimitAndTheServerKeepsServing()
    {
        var request = new EmbedRequest();
        request.Texts.AddRange(Enumerable.Repeat("x", 257));
        RpcException e = await Assert.ThrowsAsync<RpcException>(() => _client.EmbedAsync(request, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Contains("256", e.Status.Detail, StringComparison.Ordinal);

        EmbedResponse ok = await _client.EmbedAsync(new EmbedRequest { Texts = { "still serving" } }, cancellationToken: Ct);
        Assert.Single(ok.Vectors);
    }

    [Fact]
    public async Task ATextAboveTheCharacterLimitIsRejectedWithItsIndex()
    {
        var request = new EmbedRequest { Texts = { "fine", new string('a', 65_537) } };
        RpcException e = await Assert.ThrowsAsync<RpcException>(() => _client.EmbedAsync(request, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Equal("texts[1]", Errors.Field(e));
    }

    [Fact]
    public async Task HealthCheckReportsServing()
    {
        var health = new Health.HealthClient(fixture.Channel);
        HealthCheckResponse response = await health.CheckAsync(new HealthCheckRequest(), cancellationToken: Ct);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, response.Status);
        HttpResponseMessage http = await fixture.Http.GetAsync(new Uri("/healthz", UriKind.Relative), Ct);
        Assert.True(http.IsSuccessStatusCode);
    }
}
