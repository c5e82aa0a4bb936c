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
}
