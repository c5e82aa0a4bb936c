using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using SemCache.Protocol.V1;

namespace SemCache.CacheServer.Tests;

/// <summary>
/// The HTTP/JSON API reads proto3 JSON: what it allows is accepted, anything else is a 400 naming the JSON path
/// (as the client wrote it) and the rule, nothing is written, and the server keeps serving.
/// </summary>
public sealed class JsonRequestTests(ServerFixture fixture)
{
    private readonly SemanticCache.SemanticCacheClient _client = new(fixture.Channel);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string NewNamespace() => "t" + Guid.NewGuid().ToString("N")[..12];

    // Each case: the route, the JSON members after "namespace" (NS is replaced by the test's namespace), the field named.
    public static TheoryData<string, string, string> BadBodies => new()
    {
        { "set", """ "prompt": "p", "response": "r", "ttlSeconds": "soon" """, "ttlSeconds" },
        { "set", """ "prompt": "p", "response": "r", "ttlSeconds": -5 """, "ttlSeconds" },
        { "set", """ "prompt": "p", "response": "r", "ttlSeconds": 1.5 """, "ttlSeconds" },
        { "set", """ "prompt": "p", "response": "r", "ttlSeconds": "2.5" """, "ttlSeconds" },
        { "set", """ "prompt": "p", "response": "r", "ttlSeconds": 4294967296 """, "ttlSeconds" },
        { "set", """ "prompt": "p", "response": "r", "ttlSeconds": true """, "ttlSeconds" },
        { "set", """ "prompt": "p", "response": "r", "ttlSeconds": "+5" """, "ttlSeconds" },
        { "set", """ "prompt": "p", "response": "r", "ttlSeconds": "05" """, "ttlSeconds" },
        { "set", """ "prompt": "p", "response": "r", "vector": [" 1"] """, "vector[0]" },
        { "set", """ "prompt": "p", "response": "r", "ttlSeconds": 100.5e-1 """, "ttlSeconds" },
        { "set", """ "prompt": "p", "response": "r", "ttlSeconds": 1e-50 """, "ttlSeconds" },
        { "set", """ "prompt": "p", "response": "r", "ttlSeconds": "1e400" """, "ttlSeconds" },
        { "set", """ "prompt": "p", "response": "r", "ttl_seconds": [] """, "ttl_seconds" },
        { "set", """ "prompt": "p", "response": "r", "vector": [1, 0, 0, null] """, "vector[3]" },
        { "set", """ "prompt": "p", "response": "r", "vector": [1, "x"] """, "vector[1]" },
        { "set", """ "prompt": "p", "response": "r", "vector": [1e39] """, "vector[0]" },
        { "set", """ "prompt": "p", "response": "r", "vector": "1,2" """, "vector" },
        { "set", """ "prompt": 5, "response": "r" """, "prompt" },
        { "set", """ "prompt": "\ud800", "response": "r" """, "prompt" },
        { "set", """ "prompt": "p", "response": "a\udc00b" """, "response" },
        { "set", """ "response": "r", "messages": [{"role": "user", "content": "\ud83d"}] """, "messages[0].content" },
        { "set", """ "response": "r", "messages": [null] """, "messages[0]" },
        { "set", """ "response": "r", "messages": [{"role": "user", "contnt": "x"}] """, "messages[0].contnt" },
        { "set", """ "prompt": "p", "response": "r", "attributes": {"model": 4} """, "attributes[\"model\"]" },
        { "set", """ "prompt": "p", "response": "r", "attributes": {"model": null} """, "attributes[\"model\"]" },
        { "set", """ "prompt": "p", "response": "r", "usage": {"inputTokens": -1} """, "usage.inputTokens" },
        { "set", """ "prompt": "p", "response": "r", "usage": "gpt-4o" """, "usage" },
        { "set", """ "prompt": "p", "response": "r", "ttlSecond": 5 """, "ttlSecond" },
        { "set", """ "prompt": "p", "response": "r", "prompt": "q" """, "prompt" },
        { "set", """ "prompt": "p", "response": "r", "ttl_seconds": 5, "ttlSeconds": 6 """, "ttlSeconds" },
        { "set", """ "prompt": "p", "response": "r", """, "request" },
        { "get", """ "prompt": "p", "minSimilarity": "high" """, "minSimilarity" },
        { "get", """ "prompt": "p", "topK": -1 """, "topK" },
        { "get", """ "prompt": "p", "exactOnly": "yes" """, "exactOnly" },
        { "get", """ "prompt": "p", "exact_only": 1 """, "exact_only" },
        { "delete", """ "id": 7 """, "id" },
        { "delete", """ "entireNamespace": "true" """, "entireNamespace" },
        { "embed", """ "texts": ["a", 1] """, "texts[1]" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task ABadBodyIsA400NamingTheJsonPath(string route, string members, string field)
    {
        string ns = NewNamespace();
        string body = route == "embed" ? $$"""{ {{members}} }""" : $$"""{ "namespace": "{{ns}}", {{members}} }""";
        (HttpStatusCode status, Google.Rpc.Status error) = await PostAsync(route, Encoding.UTF8.GetBytes(body));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal((int)StatusCode.InvalidArgument, error.Code);
        Assert.Equal(field, Errors.Field(error));
        Assert.StartsWith(field + ": ", error.Message, StringComparison.Ordinal);
        await AssertNothingWrittenAndStillServing(ns);
    }

    public static TheoryData<string, string> BadDocuments => new()
    {
        { "an empty body", "" },
        { "an array", "[1, 2]" },
        { "a string", "\"set\"" },
        { "a cut-off object", "{\"namespace\": \"x\", \"prompt\": \"p" },
        { "a trailing comma", "{\"prompt\": \"p\",}" },
        { "two documents", "{} {}" },
        { "a comment", "{/* hi */}" },
        { "a single-quoted string", "{'prompt': 'p'}" },
    };

    [Theory]
    [MemberData(nameof(BadDocuments))]
    public async Task InvalidJsonIsA400SayingWhere(string what, string body)
    {
        (HttpStatusCode status, Google.Rpc.Status error) = await PostAsync("set", Encoding.UTF8.GetBytes(body));
        Assert.True(status == HttpStatusCode.BadRequest, what);
        Assert.Equal((int)StatusCode.InvalidArgument, error.Code);
        Assert.False(string.IsNullOrEmpty(Errors.Field(error)));
        Assert.Contains("JSON", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidUtf8BytesInAStringAreA400NamingTheField()
    {
        string ns = NewNamespace();
        byte[] body = [.. Encoding.UTF8.GetBytes($$"""{"namespace": "{{ns}}", "response": "r", "prompt": "a"""), 0xC3, 0x28, .. "\"}"u8];
        (HttpStatusCode status, Google.Rpc.Status error) = await PostAsync("set", body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("prompt", Errors.Field(error));
        await AssertNothingWrittenAndStillServing(ns);
    }

    [Fact]
    public async Task Proto3JsonFormsAreAccepted()
    {
        string ns = NewNamespace();
        // Numbers as strings, exponents that are whole, proto field names beside JSON names, null for a default.
        string body = $$"""
            { "namespace": "{{ns}}", "prompt": "numeric strings", "response": "r", "ttl_seconds": "100",
              "usage": { "model": "m", "inputTokens": "120e-1", "output_tokens": 3e1 }, "attributes": null, "vector": ["1", 0, "-0.5", 2E0] }
            """;
        (HttpStatusCode status, _) = await PostAsync("set", Encoding.UTF8.GetBytes(body));
        Assert.Equal(HttpStatusCode.OK, status);

        GetResponse got = await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "numeric strings", ExactOnly = true }, cancellationToken: Ct);
        Match match = Assert.Single(got.Matches);
        Assert.Equal(100_000, match.ExpiresUnixMs - match.CreatedUnixMs);
        Assert.Equal(12u, match.Usage.InputTokens);
        Assert.Equal(30u, match.Usage.OutputTokens);

        string get = $$"""{ "namespace": "{{ns}}", "vector": [1, 0, -0.5, 2], "minSimilarity": "0.99", "topK": "1", "exactOnly": false }""";
        using HttpResponseMessage response = await fixture.Http.PostAsync(new Uri("/v1/get", UriKind.Relative), Json(Encoding.UTF8.GetBytes(get)), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using JsonDocument answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.True(answer.RootElement.GetProperty("hit").GetBoolean());
    }

    [Fact]
    public async Task AnUnknownFieldStoresNothing()
    {
        string ns = NewNamespace();
        string body = $$"""{ "namespace": "{{ns}}", "prompt": "typo", "response": "r", "ttlSecond": 5 }""";
        (HttpStatusCode status, Google.Rpc.Status error) = await PostAsync("set", Encoding.UTF8.GetBytes(body));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("ttlSecond", Errors.Field(error));
        Assert.Contains("ttlSeconds", error.Message, StringComparison.Ordinal); // the fields it could have meant
        Assert.False((await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "typo", ExactOnly = true }, cancellationToken: Ct)).Hit);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData(null)]
    public async Task ABodyThatIsNotJsonIs415SayingWhatToSend(string? contentType)
    {
        var content = new ByteArrayContent("{}"u8.ToArray());
        content.Headers.ContentType = contentType is null ? null : new MediaTypeHeaderValue(contentType);
        using HttpResponseMessage response = await fixture.Http.PostAsync(new Uri("/v1/set", UriKind.Relative), content, Ct);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Google.Rpc.Status error = Errors.ParseJson(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal((int)StatusCode.InvalidArgument, error.Code);
        Assert.Equal("request", Errors.Field(error));
        Assert.Contains("application/json", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AQueryParameterOnAPostIsA400RatherThanIgnored()
    {
        string ns = NewNamespace();
        using HttpResponseMessage response = await fixture.Http.PostAsync(new Uri($"/v1/set?namespace={ns}", UriKind.Relative), Json(Encoding.UTF8.GetBytes("""{ "prompt": "p", "response": "r" }""")), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("namespace", Errors.Field(Errors.ParseJson(await response.Content.ReadAsStringAsync(Ct))));
        await AssertNothingWrittenAndStillServing(ns);
    }

    [Fact]
    public async Task AnExplicitZeroThresholdSurvivesTheJsonPath()
    {
        string ns = NewNamespace();
        await _client.SetAsync(new SetRequest { Namespace = ns, Prompt = "numeric strings", Response = "r" }, cancellationToken: Ct);
        foreach ((string threshold, bool hit) in new[] { ("", false), ("\"minSimilarity\": 0,", true) })
        {
            string get = $$"""{ {{threshold}} "namespace": "{{ns}}", "prompt": "strings of numbers" }""";
            using HttpResponseMessage response = await fixture.Http.PostAsync(new Uri("/v1/get", UriKind.Relative), Json(Encoding.UTF8.GetBytes(get)), Ct);
            using JsonDocument answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
            Assert.Equal(hit, answer.RootElement.GetProperty("hit").GetBoolean());
        }
    }

    [Fact]
    public async Task AnUnknownQueryParameterIsA400()
    {
        using HttpResponseMessage response = await fixture.Http.GetAsync(new Uri("/v1/stats?namespac=x", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("namespac", Errors.Field(Errors.ParseJson(await response.Content.ReadAsStringAsync(Ct))));
        using HttpResponseMessage ok = await fixture.Http.GetAsync(new Uri("/v1/stats?namespace=x", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Fact]
    public async Task AnEngineSizeLimitIs413NotATooManyRequests()
    {
        string ns = NewNamespace();
        string body = $$"""{ "namespace": "{{ns}}", "prompt": "p", "response": "{{new string('r', 300_000)}}" }""";
        (HttpStatusCode status, Google.Rpc.Status error) = await PostAsync("set", Encoding.UTF8.GetBytes(body));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal((int)StatusCode.ResourceExhausted, error.Code);
        Assert.Equal("response", Errors.Field(error));
        await AssertNothingWrittenAndStillServing(ns);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ABodyOverTheLimitIs413NamingTheLimit(bool declaresLength)
    {
        string ns = NewNamespace();
        byte[] body = Encoding.UTF8.GetBytes($$"""{ "namespace": "{{ns}}", "prompt": "p", "response": "{{new string('r', 31_000_000)}}" }""");
        HttpContent content = declaresLength ? Json(body) : new UnsizedContent(body);
        using HttpResponseMessage response = await fixture.Http.PostAsync(new Uri("/v1/set", UriKind.Relative), content, Ct);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Google.Rpc.Status error = Errors.ParseJson(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal((int)StatusCode.ResourceExhausted, error.Code);
        Assert.Contains("16777216", error.Message, StringComparison.Ordinal);
        Assert.Contains("Server:MaxRequestBytes", error.Message, StringComparison.Ordinal);
        await AssertNothingWrittenAndStillServing(ns);
    }

    [Fact]
    public async Task AGrpcMessageOverTheLimitIsResourceExhaustedNamingTheLimit()
    {
        string ns = NewNamespace();
        var request = new SetRequest { Namespace = ns, Prompt = "p", Response = new string('r', 17 << 20) };
        RpcException e = await Assert.ThrowsAsync<RpcException>(() => _client.SetAsync(request, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Equal("request", Errors.Field(e));
        Assert.Contains("16777216", e.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("Server:MaxRequestBytes", e.Status.Detail, StringComparison.Ordinal);
        await AssertNothingWrittenAndStillServing(ns);
    }

    private async Task AssertNothingWrittenAndStillServing(string ns)
    {
        StatsResponse stats = await _client.StatsAsync(new StatsRequest { Namespace = ns }, cancellationToken: Ct);
        Assert.Equal(0ul, stats.Sets);
        Assert.Equal(0ul, stats.Gets);
        string body = $$"""{ "namespace": "{{ns}}", "prompt": "still serving", "response": "yes" }""";
        (HttpStatusCode status, _) = await PostAsync("set", Encoding.UTF8.GetBytes(body));
        Assert.Equal(HttpStatusCode.OK, status);
    }

    private async Task<(HttpStatusCode Status, Google.Rpc.Status Error)> PostAsync(string route, byte[] body)
    {
        using HttpResponseMessage response = await fixture.Http.PostAsync(new Uri("/v1/" + route, UriKind.Relative), Json(body), Ct);
        string text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, response.IsSuccessStatusCode ? new Google.Rpc.Status() : Errors.ParseJson(text));
    }

    private static ByteArrayContent Json(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>A body sent without Content-Length (chunked), so the limit is met while reading.</summary>
    private sealed class UnsizedContent : HttpContent
    {
        private readonly byte[] _body;

        public UnsizedContent(byte[] body)
        {
            _body = body;
            Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(_body).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
