using Google.Protobuf;
using Grpc.Core;
using SemCache.Protocol.V1;

namespace SemCache.CacheServer.Tests;

/// <summary>
/// Bytes that are not a valid protobuf request, sent as a well-framed gRPC message: each is INVALID_ARGUMENT naming the
/// field, nothing is written, and the server keeps serving.
/// </summary>
public sealed class MalformedProtobufTests(ServerFixture fixture)
{
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(bytes => bytes, bytes => bytes);
    private readonly SemanticCache.SemanticCacheClient _client = new(fixture.Channel);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Each case: the method, bytes appended to a valid request of that method (with the test's namespace, so that a
    // half-written request would show in its counters), the field named.
    public static TheoryData<string, string, string> Cases => new()
    {
        { "Set", "12 02 C3 28", "prompt" },                              // prompt: invalid UTF-8
        { "Set", "2A 03 ED A0 80", "response" },                         // response: an encoded surrogate (invalid UTF-8)
        { "Set", "12 0A 61 62 63", "prompt" },                           // prompt: length 10, 3 bytes follow (truncated)
        { "Set", "30 FF", "ttl_seconds" },                               // ttl_seconds: varint cut off
        { "Set", "30 FF FF FF FF FF FF FF FF FF FF 01", "ttl_seconds" }, // ttl_seconds: varint of 11 bytes
        { "Set", "32 01 78", "ttl_seconds" },                            // ttl_seconds sent length-delimited (wrong wire type)
        { "Set", "15 00 00 80 3F", "prompt" },                           // prompt sent as fixed32 (wrong wire type)
        { "Set", "17", "prompt" },                                       // prompt with wire type 7 (no such wire type)
        { "Set", "42 03 00 00 80", "vector" },                           // packed floats: 3 bytes is not a whole float
        { "Set", "3A 03 10 FF FF", "usage.input_tokens" },               // usage.input_tokens: varint cut off inside the message
        { "Set", "1A 04 12 02 C3 28", "messages[0].content" },           // messages[0].content: invalid UTF-8
        { "Set", "22 06 0A 01 6B 12 01 FF", "attributes[\"k\"]" },       // attributes value: invalid UTF-8
        { "Set", "00", "request" },                                      // field number 0
        { "Set", "FA 06 01 78 8C 01", "request" },                       // an unknown field, then a stray end-group tag
        { "Set", "FF FF FF FF FF FF FF FF FF FF", "request" },           // a tag that is not a varint
        { "Get", "12 01 80", "prompt" },                                 // Get: invalid UTF-8
        { "Get", "3D 00 00", "vector[0]" },                              // Get: one unpacked float, 2 of its 4 bytes
        { "SetMany", "0A 04 12 02 C3 28", "entries[1].prompt" },         // SetMany: after a valid entry, the next one's prompt
        { "SetMany", "0A 00 0A 03 2A 01 FF", "entries[2].response" },    // SetMany: the third entry's response
        { "Delete", "12 01 FE", "id" },                                  // Delete: invalid UTF-8
        { "Embed", "0A 01 61 0A 01 C0", "texts[1]" },                    // Embed: the second text
        { "Stats", "0A 01 C1", "namespace" },                            // Stats: the namespace itself
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task MalformedBytesAreInvalidArgumentNamingTheField(string method, string appended, string field)
    {
        string ns = "t" + Guid.NewGuid().ToString("N")[..12];
        byte[] valid = method switch
        {
            "Set" => new SetRequest { Namespace = ns, Response = "r", Prompt = "the prompt" }.ToByteArray(),
            "Get" => new GetRequest { Namespace = ns }.ToByteArray(),
            "SetMany" => new SetManyRequest { Entries = { new SetRequest { Namespace = ns, Prompt = "a valid first entry", Response = "r" } } }.ToByteArray(),
            "Delete" => new DeleteRequest { Namespace = ns }.ToByteArray(),
            "Embed" => [],
            "Stats" => [],
            _ => throw new ArgumentOutOfRangeException(nameof(method)),
        };
        byte[] payload = [.. valid, .. Convert.FromHexString(appended.Replace(" ", "", StringComparison.Ordinal))];

        RpcException e = await Assert.ThrowsAsync<RpcException>(() => Call(method, payload));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.Equal(field, Errors.Field(e));
        Assert.StartsWith(field + ": ", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("could not be parsed", e.Status.Detail, StringComparison.Ordinal);

        StatsResponse stats = await _client.StatsAsync(new StatsRequest { Namespace = ns }, cancellationToken: Ct);
        Assert.Equal(0ul, stats.Sets);
        Assert.Equal(0ul, stats.Gets);
        Assert.True((await _client.SetAsync(new SetRequest { Namespace = ns, Prompt = "still serving", Response = "yes" }, cancellationToken: Ct)).SemanticallyIndexed);
    }

    [Fact]
    public async Task UnknownFieldsAreIgnoredAsProto3Says()
    {
        string ns = "t" + Guid.NewGuid().ToString("N")[..12];
        byte[] valid = new SetRequest { Namespace = ns, Prompt = "known and unknown", Response = "r" }.ToByteArray();
        // Field 99 as a varint, field 100 length-delimited, field 101 as fixed64, field 102 as a group.
        byte[] payload = [.. valid, .. Convert.FromHexString("980605A2060178A9060102030405060708B3060801B406")];
        await Call("Set", payload);
        Assert.True((await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "known and unknown", ExactOnly = true }, cancellationToken: Ct)).Hit);
    }

    // Hand-built gRPC framing (1 byte compressed flag, 4 bytes length, the message): each case, and the words of its reason.
    public static TheoryData<string, string, string> BadFrames => new()
    {
        { "no message", "", "no message was sent" },
        { "a cut-off header", "00 00 00", "cut off" },
        { "a message shorter than its header says", "00 00 00 00 10 12 01 61", "declares 16 bytes" },
        { "two messages in a unary call", "00 00 00 00 00 00 00 00 00 00", "more than one message" },
        { "a compressed flag of 2", "02 00 00 00 00", "compressed flag is 2" },
        { "compressed, with no grpc-encoding", "01 00 00 00 01 00", "grpc-encoding" },
    };

    [Theory]
    [MemberData(nameof(BadFrames))]
    public async Task BadFramingIsInvalidArgumentSayingWhat(string what, string frame, string reason)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("http://localhost/semcache.v1.SemanticCache/Set"))
        {
            Version = new Version(2, 0),
            Content = new ByteArrayContent(Convert.FromHexString(frame.Replace(" ", "", StringComparison.Ordinal))),
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        request.Headers.TE.ParseAdd("trailers");
        using var http = new HttpClient(fixture.Handler, disposeHandler: false);
        using HttpResponseMessage response = await http.SendAsync(request, Ct);
        _ = await response.Content.ReadAsByteArrayAsync(Ct);

        string? Header(string name) =>
            response.TrailingHeaders.TryGetValues(name, out IEnumerable<string>? t) ? t.Single()
            : response.Headers.TryGetValues(name, out IEnumerable<string>? h) ? h.Single() : null;
        Assert.True(Header("grpc-status") == ((int)StatusCode.InvalidArgument).ToString(System.Globalization.CultureInfo.InvariantCulture), what);
        string message = Uri.UnescapeDataString(Header("grpc-message") ?? "");
        Assert.StartsWith("request: ", message, StringComparison.Ordinal);
        Assert.Contains(reason, message, StringComparison.Ordinal);
        Assert.True((await _client.StatsAsync(new StatsRequest(), cancellationToken: Ct)).Entries >= 0); // still serving
    }

    [Fact]
    public async Task GzipMessagesAreReadAndDamagedOnesAreInvalidArgument()
    {
        string ns = "t" + Guid.NewGuid().ToString("N")[..12];
        var compressed = new Metadata { { "grpc-internal-encoding-request", "gzip" } };
        await _client.SetAsync(new SetRequest { Namespace = ns, Prompt = "sent compressed", Response = "r" }, compressed, cancellationToken: Ct);
        Assert.True((await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "sent compressed", ExactOnly = true }, compressed, cancellationToken: Ct)).Hit);

        byte[] garbage = [0x01, 0x00, 0x00, 0x00, 0x04, 0xAB, 0xCD, 0xEF, 0x01]; // not gzip at all
        byte[] bomb;
        using (var packed = new MemoryStream())
        {
            using (var gzip = new System.IO.Compression.GZipStream(packed, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))
            {
                gzip.Write(new byte[17 << 20]);
            }

            bomb = [0x01, .. BitConverter.GetBytes(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((uint)packed.Length)), .. packed.ToArray()];
        }

        foreach ((byte[] frame, string status, string words) in new[] { (garbage, "3", "cannot be decompressed"), (bomb, "8", "Server:MaxRequestBytes") })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("http://localhost/semcache.v1.SemanticCache/Set")) { Version = new Version(2, 0), Content = new ByteArrayContent(frame) };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
            request.Headers.Add("grpc-encoding", "gzip");
            using var http = new HttpClient(fixture.Handler, disposeHandler: false);
            using HttpResponseMessage response = await http.SendAsync(request, Ct);
            _ = await response.Content.ReadAsByteArrayAsync(Ct);
            Assert.Equal(status, response.Headers.TryGetValues("grpc-status", out IEnumerable<string>? s) ? s.Single() : response.TrailingHeaders.GetValues("grpc-status").Single());
            Assert.Contains(words, Uri.UnescapeDataString(response.Headers.TryGetValues("grpc-message", out IEnumerable<string>? m) ? m.Single() : response.TrailingHeaders.GetValues("grpc-message").Single()), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ReflectionStillDescribesTheService()
    {
        var reflection = new Grpc.Reflection.V1Alpha.ServerReflection.ServerReflectionClient(fixture.Channel);
        using AsyncDuplexStreamingCall<Grpc.Reflection.V1Alpha.ServerReflectionRequest, Grpc.Reflection.V1Alpha.ServerReflectionResponse> call = reflection.ServerReflectionInfo(cancellationToken: Ct);
        await call.RequestStream.WriteAsync(new Grpc.Reflection.V1Alpha.ServerReflectionRequest { ListServices = "" }, Ct);
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(Ct));
        Assert.Contains(call.ResponseStream.Current.ListServicesResponse.Service, s => s.Name == "semcache.v1.SemanticCache");
    }

    private Task<byte[]> Call(string method, byte[] payload) =>
        fixture.Channel.CreateCallInvoker()
            .AsyncUnaryCall(new Method<byte[], byte[]>(MethodType.Unary, "semcache.v1.SemanticCache", method, Raw, Raw), null, new CallOptions(cancellationToken: Ct), payload)
            .ResponseAsync;
}
