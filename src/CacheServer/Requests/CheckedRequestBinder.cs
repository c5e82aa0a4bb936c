using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace SemCache.CacheServer.Requests;

/// <summary>
/// Binds a generated service with every request marshaller wrapped: the bytes are checked by
/// <see cref="ProtobufRequestCheck"/> before the generated parser sees them, and a fault becomes INVALID_ARGUMENT
/// naming the field. grpc-dotnet parses requests before any handler or interceptor runs, and maps a parser exception
/// to UNKNOWN; a marshaller is the one place that runs first, and an RpcException thrown there keeps its status.
/// </summary>
internal sealed class CheckedRequestBinder(ServiceBinderBase inner, ServiceDescriptor service) : ServiceBinderBase
{
    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Checked(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Checked(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Checked(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
        inner.AddMethod(Checked(method), handler);

    private Method<TRequest, TResponse> Checked<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class
        where TResponse : class
    {
        MessageDescriptor input = service.FindMethodByName(method.Name)?.InputType
            ?? throw new InvalidOperationException($"{service.FullName} has no method {method.Name}.");
        Func<DeserializationContext, TRequest> parse = method.RequestMarshaller.ContextualDeserializer;
        var marshaller = new Marshaller<TRequest>(method.RequestMarshaller.ContextualSerializer, context => Parse(context, parse, input));
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, marshaller, method.ResponseMarshaller);
    }

    private static TRequest Parse<TRequest>(DeserializationContext context, Func<DeserializationContext, TRequest> parse, MessageDescriptor input)
    {
        if (ProtobufRequestCheck.Find(context.PayloadAsReadOnlySequence(), input) is RequestFault fault)
        {
            throw Unparsable(input, fault.Field, fault.Reason);
        }

        try
        {
            return parse(context);
        }
        catch (InvalidProtocolBufferException e)
        {
            // The check above is meant to leave the parser nothing to reject; should it still, the status stays right.
            throw Unparsable(input, RequestErrors.WholeRequest, e.Message);
        }
    }

    private static RpcException Unparsable(MessageDescriptor input, string field, string reason) =>
        RequestErrors.ToRpcException(StatusCode.InvalidArgument, field, $"{reason}; the {input.Name} message could not be parsed");
}
