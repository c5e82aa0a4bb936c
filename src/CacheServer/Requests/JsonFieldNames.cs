using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Rpc;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Grpc.JsonTranscoding;

namespace SemCache.CacheServer.Requests;

/// <summary>
/// On the HTTP/JSON port, a rejection names the field as the JSON API spells it (<c>ttlSeconds</c>, not the engine's
/// proto name <c>ttl_seconds</c>), as the JSON check before the call already does. gRPC calls are left as they are.
/// </summary>
internal sealed class JsonFieldNamesInterceptor : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context).ConfigureAwait(false);
        }
        catch (RpcException e) when (request is IMessage message
            && context.GetHttpContext().GetEndpoint()?.Metadata.GetMetadata<GrpcJsonTranscodingMetadata>() is not null
            && e.GetRpcStatus() is Google.Rpc.Status status
            && status.GetDetail<BadRequest>() is BadRequest badRequest)
        {
            var renamed = new BadRequest();
            string oldMessage = status.Message;
            foreach (BadRequest.Types.FieldViolation violation in badRequest.FieldViolations)
            {
                string json = JsonFieldNames.Of(violation.Field, message.Descriptor);
                if (oldMessage.StartsWith(violation.Field + ": ", StringComparison.Ordinal))
                {
                    oldMessage = json + oldMessage[violation.Field.Length..];
                }

                renamed.FieldViolations.Add(new BadRequest.Types.FieldViolation { Field = json, Description = violation.Description });
            }

            var copy = new Google.Rpc.Status { Code = status.Code, Message = oldMessage };
            foreach (Google.Protobuf.WellKnownTypes.Any detail in status.Details)
            {
                copy.Details.Add(detail.Is(BadRequest.Descriptor) ? Google.Protobuf.WellKnownTypes.Any.Pack(renamed) : detail);
            }

            throw copy.ToRpcException();
        }
    }
}

/// <summary>Rewrites a field path of proto names (<c>entries[2].usage.input_tokens</c>) into JSON names.</summary>
internal static class JsonFieldNames
{
    public static string Of(string path, MessageDescriptor descriptor)
    {
        var result = new StringBuilder(path.Length);
        MessageDescriptor? current = descriptor;
        int i = 0;
        while (i < path.Length)
        {
            int start = i;
            while (i < path.Length && (char.IsAsciiLetterOrDigit(path[i]) || path[i] == '_'))
            {
                i++;
            }

            string name = path[start..i];
            FieldDescriptor? field = current?.FindFieldByName(name);
            result.Append(field?.JsonName ?? name);
            current = field?.FieldType == FieldType.Message && !field.IsMap ? field.MessageType : null;

            // Indexes and map keys ([3], ["a.b"]) are copied as they are, quoted keys included.
            while (i < path.Length && path[i] == '[')
            {
                int open = i;
                bool quoted = false;
                for (i++; i < path.Length && (quoted || path[i] != ']'); i++)
                {
                    if (path[i] == '\\')
                    {
                        i++;
                    }
                    else if (path[i] == '"')
                    {
                        quoted = !quoted;
                    }
                }

                i = Math.Min(i + 1, path.Length);
                result.Append(path, open, i - open);
            }

            if (i < path.Length)
            {
                if (path[i] != '.')
                {
                    return result.Append(path, i, path.Length - i).ToString(); // not a path after all: leave the rest
                }

                result.Append('.');
                i++;
            }
        }

        return result.ToString();
    }
}
