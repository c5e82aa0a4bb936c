using Google.Rpc;
using Grpc.Core;

namespace SemCache.CacheServer.Tests;

internal static class Errors
{
    /// <summary>The field named by the status's google.rpc.BadRequest detail.</summary>
    public static string Field(RpcException e)
    {
        Google.Rpc.Status? status = e.GetRpcStatus();
        Assert.NotNull(status);
        BadRequest? badRequest = status.GetDetail<BadRequest>();
        Assert.NotNull(badRequest);
        return Assert.Single(badRequest.FieldViolations).Field;
    }
}
