using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Grpc.JsonTranscoding;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using BadRequest = Google.Rpc.BadRequest;

namespace SemCache.CacheServer.Requests;

/// <summary>
/// Checks what the framework would otherwise reject vaguely or accept silently, before the endpoint runs:
/// the size of every request (<see cref="ServerOptions.MaxRequestBytes"/>, naming the limit), and every HTTP/JSON body
/// as proto3 JSON (<see cref="JsonRequestCheck"/>, naming the JSON path). A JSON body that passes is handed on in
/// canonical proto3 JSON, so the transcoder reads what proto3 allows (numeric strings for integers, for one).
/// </summary>
internal sealed class RequestGate(RequestDelegate next, IOptions<ServerOptions> options)
{
    private static readonly JsonParser Proto3Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(false));
    private static readonly JsonFormatter ErrorFormatter = new(JsonFormatter.Settings.Default.WithTypeRegistry(TypeRegistry.FromMessages(BadRequest.Descriptor)));
    private readonly int _maxRequestBytes = options.Value.MaxRequestBytes;

    public Task InvokeAsync(HttpContext context)
    {
        Endpoint? endpoint = context.GetEndpoint();
        if (endpoint?.Metadata.GetMetadata<GrpcJsonTranscodingMetadata>() is GrpcJsonTranscodingMetadata json)
        {
            return JsonAsync(context, json);
        }

        if (endpoint?.Metadata.GetMetadata<GrpcMethodMetadata>() is GrpcMethodMetadata grpc)
        {
            return GrpcAsync(context, grpc);
        }

        return next(context);
    }

    private string TooLarge(long bytes) => bytes >= 0
        ? $"{bytes.ToString(CultureInfo.InvariantCulture)} bytes exceed the limit of {_maxRequestBytes.ToString(CultureInfo.InvariantCulture)} bytes per request (Server:MaxRequestBytes)"
        : $"the body exceeds the limit of {_maxRequestBytes.ToString(CultureInfo.InvariantCulture)} bytes per request (Server:MaxRequestBytes)";

    /// <summary>
    /// Reads a unary call's framing before grpc-dotnet does, so that what it would answer with INTERNAL ("Incomplete
    /// message") or a limit that names nothing is refused as the client's error, naming the rule: a message declared
    /// larger than the limit is refused from its 5-byte header, before any of it is buffered. The bytes are left
    /// unconsumed for grpc-dotnet, which keeps its own size check as the backstop for compressed messages.
    /// </summary>
    private async Task GrpcAsync(HttpContext context, GrpcMethodMetadata method)
    {
        if (method.Method.Type != MethodType.Unary)
        {
            await next(context).ConfigureAwait(false); // streams (reflection, health Watch) frame many messages
            return;
        }

        PipeReader body = context.Request.BodyReader;
        ReadResult read = await body.ReadAtLeastAsync(5, context.RequestAborted).ConfigureAwait(false);
        ReadOnlySequence<byte> buffer = read.Buffer;
        if (buffer.Length < 5)
        {
            body.AdvanceTo(buffer.Start);
            RejectGrpc(context, Grpc.Core.StatusCode.InvalidArgument, buffer.Length == 0
                ? "no message was sent; a unary call carries exactly one"
                : $"cut off: the gRPC message header has {buffer.Length} of its 5 bytes");
            return;
        }

        Span<byte> header = stackalloc byte[5];
        buffer.Slice(0, 5).CopyTo(header);
        byte compressed = header[0];
        long declared = BinaryPrimitives.ReadUInt32BigEndian(header[1..]);
        string? encoding = context.Request.Headers["grpc-encoding"];
        string? fault = compressed > 1 ? $"the gRPC message header's compressed flag is {compressed}; it must be 0 or 1"
            : compressed == 1 && (string.IsNullOrEmpty(encoding) || encoding == "identity") ? "the message is flagged compressed, but the grpc-encoding header names no compression"
            : null;
        if (fault is not null || declared > _maxRequestBytes)
        {
            body.AdvanceTo(buffer.Start);
            if (fault is not null)
            {
                RejectGrpc(context, Grpc.Core.StatusCode.InvalidArgument, fault);
            }
            else
            {
                RejectGrpc(context, Grpc.Core.StatusCode.ResourceExhausted, TooLarge(declared));
            }

            return;
        }

        // A unary call is one message, then the end of the stream: wait for both, as grpc-dotnet would.
        long expected = 5 + declared;
        while (!read.IsCompleted && buffer.Length <= expected)
        {
            body.AdvanceTo(buffer.Start, buffer.End);
            read = await body.ReadAsync(context.RequestAborted).ConfigureAwait(false);
            buffer = read.Buffer;
        }

        long received = buffer.Length;
        string? gzipFault = received == expected && compressed == 1 && encoding == "gzip" ? GzipFault(buffer.Slice(5)) : null;
        body.AdvanceTo(buffer.Start);
        if (received != expected)
        {
            RejectGrpc(context, Grpc.Core.StatusCode.InvalidArgument, received < expected
                ? $"cut off: the gRPC message header declares {declared} bytes, and the call ended after {received - 5}"
                : "more than one message was sent; a unary call carries exactly one");
            return;
        }

        if (gzipFault is not null)
        {
            RejectGrpc(context, gzipFault.StartsWith("decompressed", StringComparison.Ordinal) ? Grpc.Core.StatusCode.ResourceExhausted : Grpc.Core.StatusCode.InvalidArgument, gzipFault);
            return;
        }

        await next(context).ConfigureAwait(false);
    }

    /// <summary>
    /// A gzip message is inflated here once, into nothing, so that damaged data is the client's INVALID_ARGUMENT and a
    /// message that inflates past the limit names it (grpc-dotnet would answer UNKNOWN, and a limit without its name).
    /// </summary>
    private string? GzipFault(ReadOnlySequence<byte> message)
    {
        byte[] copy = message.ToArray();
        byte[] sink = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(copy, writable: false), System.IO.Compression.CompressionMode.Decompress);
            long total = 0;
            int read;
            while ((read = gzip.Read(sink, 0, sink.Length)) > 0)
            {
                total += read;
                if (total > _maxRequestBytes)
                {
                    return $"decompressed, the message exceeds the limit of {_maxRequestBytes.ToString(CultureInfo.InvariantCulture)} bytes per request (Server:MaxRequestBytes)";
                }
            }

            return null;
        }
        catch (InvalidDataException e)
        {
            return $"the gzip-compressed message cannot be decompressed: {e.Message}";
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(sink);
        }
    }

    private static void RejectGrpc(HttpContext context, Grpc.Core.StatusCode code, string reason) =>
        WriteGrpcError(context, RequestErrors.ToStatus(code, RequestErrors.WholeRequest, reason));

    private async Task JsonAsync(HttpContext context, GrpcJsonTranscodingMetadata json)
    {
        // In this API RESOURCE_EXHAUSTED always means a size limit: 413 says so, where the transcoder's 429 would tell
        // clients to retry the same request later.
        HttpResponse response = context.Response;
        response.OnStarting(static state =>
        {
            var r = (HttpResponse)state;
            if (r.StatusCode == StatusCodes.Status429TooManyRequests)
            {
                r.StatusCode = StatusCodes.Status413PayloadTooLarge;
            }

            return Task.CompletedTask;
        }, response);

        MessageDescriptor input = json.MethodDescriptor.InputType;
        HttpRequest request = context.Request;
        foreach (string key in request.Query.Keys)
        {
            if (json.HttpRule.Body == "*")
            {
                // The body carries the whole request, and the transcoder would drop the parameter without a word.
                await WriteJsonErrorAsync(context, Grpc.Core.StatusCode.InvalidArgument, key, $"query parameters are not read by {request.Method} {request.Path}; give '{key}' in the JSON body").ConfigureAwait(false);
                return;
            }

            if (!IsFieldPath(input, key))
            {
                await WriteJsonErrorAsync(context, Grpc.Core.StatusCode.InvalidArgument, key, $"unknown query parameter: {input.Name} has no field '{key}' (its fields: {JsonRequestCheck.FieldList(input)})").ConfigureAwait(false);
                return;
            }
        }

        if (json.HttpRule.Body != "*")
        {
            await next(context).ConfigureAwait(false); // no body (GET /v1/stats): the query was checked above
            return;
        }

        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out MediaTypeHeaderValue? type)
            || !(type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) || type.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase)))
        {
            await WriteJsonErrorAsync(context, Grpc.Core.StatusCode.InvalidArgument, RequestErrors.WholeRequest,
                $"the body must be JSON, sent with Content-Type: application/json (got {(string.IsNullOrEmpty(request.ContentType) ? "no Content-Type" : $"'{request.ContentType}'")})",
                StatusCodes.Status415UnsupportedMediaType).ConfigureAwait(false);
            return;
        }

        if (request.ContentLength > _maxRequestBytes)
        {
            await WriteJsonErrorAsync(context, Grpc.Core.StatusCode.ResourceExhausted, RequestErrors.WholeRequest, TooLarge(request.ContentLength.Value)).ConfigureAwait(false);
            return;
        }

        // This gate enforces the limit while it reads. Kestrel's own (the same number) would stop the read with a bare
        // 413 and then close the connection under a client still sending; lifted, Kestrel drains the rest of a
        // refused body for a few seconds, so the client reads the 413 that names the limit.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = null;
        }

        byte[]? utf8 = await ReadBodyAsync(request, type).ConfigureAwait(false);
        if (utf8 is null)
        {
            await WriteJsonErrorAsync(context, Grpc.Core.StatusCode.ResourceExhausted, RequestErrors.WholeRequest, TooLarge(-1)).ConfigureAwait(false);
            return;
        }

        if (JsonRequestCheck.Find(utf8, input) is RequestFault fault)
        {
            await WriteJsonErrorAsync(context, Grpc.Core.StatusCode.InvalidArgument, fault.Field, fault.Reason).ConfigureAwait(false);
            return;
        }

        byte[] canonical;
        try
        {
            IMessage message = Proto3Parser.Parse(Encoding.UTF8.GetString(utf8), input);
            canonical = Encoding.UTF8.GetBytes(JsonFormatter.Default.Format(message));
        }
        catch (InvalidProtocolBufferException e)
        {
            // The check above is meant to leave the parser nothing to reject; should it still, the status stays right.
            await WriteJsonErrorAsync(context, Grpc.Core.StatusCode.InvalidArgument, RequestErrors.WholeRequest, e.Message).ConfigureAwait(false);
            return;
        }

        request.Body = new MemoryStream(canonical, writable: false);
        request.ContentLength = canonical.Length;
        request.ContentType = "application/json; charset=utf-8";
        await next(context).ConfigureAwait(false);
    }

    /// <summary>The body as UTF-8 (transcoded from its declared charset), or null when it exceeds the limit.</summary>
    private async Task<byte[]?> ReadBodyAsync(HttpRequest request, MediaTypeHeaderValue type)
    {
        using var buffer = new MemoryStream(request.ContentLength is long length and > 0 ? (int)length : 4096);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > _maxRequestBytes)
                {
                    return null;
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return null; // Kestrel's own limit (the same number) met first on a body without Content-Length
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        ReadOnlySpan<byte> bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
        Encoding? encoding = null;
        if (type.Charset.HasValue && !type.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                encoding = Encoding.GetEncoding(type.Charset.Value!);
            }
            catch (ArgumentException)
            {
                // An unknown charset: read as UTF-8, and whatever is not UTF-8 is named by the check.
            }
        }

        if (encoding is not null && encoding.CodePage != Encoding.UTF8.CodePage)
        {
            return Encoding.UTF8.GetBytes(encoding.GetString(bytes));
        }

        return bytes.StartsWith(Encoding.UTF8.Preamble) ? bytes[3..].ToArray() : bytes.ToArray();
    }

    private static bool IsFieldPath(MessageDescriptor descriptor, string path)
    {
        MessageDescriptor? current = descriptor;
        foreach (string part in path.Split('.'))
        {
            FieldDescriptor? field = current is null ? null : JsonRequestCheck.FindField(current, part);
            if (field is null)
            {
                return false;
            }

            current = field.FieldType == FieldType.Message ? field.MessageType : null;
        }

        return true;
    }

    private static Task WriteJsonErrorAsync(HttpContext context, Grpc.Core.StatusCode code, string field, string reason, int? httpStatus = null)
    {
        HttpResponse response = context.Response;
        response.StatusCode = httpStatus ?? code switch
        {
            Grpc.Core.StatusCode.ResourceExhausted => StatusCodes.Status413PayloadTooLarge,
            Grpc.Core.StatusCode.Unavailable => StatusCodes.Status503ServiceUnavailable,
            _ => StatusCodes.Status400BadRequest,
        };
        response.ContentType = "application/json; charset=utf-8";
        return response.WriteAsync(ErrorFormatter.Format(RequestErrors.ToStatus(code, field, reason)), context.RequestAborted);
    }

    /// <summary>A trailers-only gRPC response: the status in the headers, no message, as grpc-dotnet writes an early error.</summary>
    private static void WriteGrpcError(HttpContext context, Google.Rpc.Status status)
    {
        HttpResponse response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = status.Code.ToString(CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = PercentEncode(status.Message);
        response.Headers["grpc-status-details-bin"] = Convert.ToBase64String(status.ToByteArray()).TrimEnd('=');
    }

    /// <summary>grpc-message is percent-encoded UTF-8: bytes outside printable ASCII, and '%', are escaped.</summary>
    private static string PercentEncode(string message)
    {
        var text = new StringBuilder(message.Length);
        foreach (byte b in Encoding.UTF8.GetBytes(message))
        {
            if (b is >= 0x20 and <= 0x7E and not (byte)'%')
            {
                text.Append((char)b);
            }
            else
            {
                text.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return text.ToString();
    }
}
