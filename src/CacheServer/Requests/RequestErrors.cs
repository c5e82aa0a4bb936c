using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Status = Google.Rpc.Status;

namespace SemCache.CacheServer.Requests;

/// <summary>
/// The one shape of every rejected request, on both ports: a status code, a message that starts with the field
/// (<c>field: reason</c>), and a google.rpc.BadRequest naming the field again for programs.
/// </summary>
internal static class RequestErrors
{
    /// <summary>The field named when the fault is the request as a whole (its size, its framing, its syntax).</summary>
    public const string WholeRequest = "request";

    public static Status ToStatus(StatusCode code, string field, string reason)
    {
        var status = new Status { Code = (int)code, Message = $"{field}: {reason}" };
        status.Details.Add(Any.Pack(new BadRequest
        {
            FieldViolations = { new BadRequest.Types.FieldViolation { Field = field, Description = reason } },
        }));
        return status;
    }

    public static RpcException ToRpcException(StatusCode code, string field, string reason) =>
        ToStatus(code, field, reason).ToRpcException();
}
