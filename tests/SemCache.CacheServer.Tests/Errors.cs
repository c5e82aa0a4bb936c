using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Rpc;
using Grpc.Core;

namespace SemCache.CacheServer.Tests;

internal static class Errors
{
    private static readonly JsonParser StatusParser = new(JsonParser.Settings.Default.WithTypeRegistry(TypeRegistry.FromMessages(BadRequest.Descriptor)));

    /// <summary>An HTTP/JSON error body: a google.rpc.Status in proto3 JSON.</summary>
    public static Google.Rpc.Status ParseJson(string body) => StatusParser.Parse<Google.Rpc.Status>(body);

    /// <summary>The field named by the status's google.rpc.BadRequest detail.</summary>
    public static string Field(RpcException e)
    {
        Google.Rpc.Status? status = e.GetRpcStatus();
        Assert.NotNull(status);
        return Field(status);
    }

    /// <summary>The field named by a google.rpc.Status's BadRequest detail (the HTTP/JSON error body).</summary>
    public static string Field(Google.Rpc.Status status)
    {
        BadRequest? badRequest = status.GetDetail<BadRequest>();
        Assert.NotNull(badRequest);
        return Assert.Single(badRequest.FieldViolations).Field;
    }
}
