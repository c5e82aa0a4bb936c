namespace SemCache.CacheServer.Tests;

/// <summary>The engine's error kinds, as gRPC statuses (the HTTP/JSON status follows from the gRPC one).</summary>
public sealed class ErrorMappingTests
{
    [Theory]
    [InlineData(SemCache.Cache.CacheErrorKind.InvalidArgument, Grpc.Core.StatusCode.InvalidArgument)]
    [InlineData(SemCache.Cache.CacheErrorKind.ResourceExhausted, Grpc.Core.StatusCode.ResourceExhausted)]
    [InlineData(SemCache.Cache.CacheErrorKind.FailedPrecondition, Grpc.Core.StatusCode.FailedPrecondition)]
    [InlineData(SemCache.Cache.CacheErrorKind.Unavailable, Grpc.Core.StatusCode.Unavailable)]
    public void EachKindHasItsStatusAndNamesTheField(SemCache.Cache.CacheErrorKind kind, Grpc.Core.StatusCode code)
    {
        Grpc.Core.RpcException e = Services.SemanticCacheService.ToRpcException(new SemCache.Cache.CacheRequestException(kind, "response", "the disk is full"));
        Assert.Equal(code, e.StatusCode);
        Assert.Equal("response", Errors.Field(e));
        Assert.Equal("response: the disk is full", e.Status.Detail);
    }

    [Theory]
    [InlineData("entries", "entries")]
    [InlineData("entries[2].ttl_seconds", "entries[2].ttlSeconds")]
    [InlineData("entries[0].usage.input_tokens", "entries[0].usage.inputTokens")]
    [InlineData("entries[1].attributes[\"a.b_c\"]", "entries[1].attributes[\"a.b_c\"]")]
    [InlineData("entries[0].messages[3].role", "entries[0].messages[3].role")]
    [InlineData("request", "request")]
    public void EngineFieldPathsAreSpelledInJsonNamesForTheJsonApi(string proto, string json) =>
        Assert.Equal(json, Requests.JsonFieldNames.Of(proto, SemCache.Protocol.V1.SetManyRequest.Descriptor));
}
