using System.Buffers;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using SemCache.Cache;

namespace SemCache.Proxy;

/// <summary>
/// The proxy's request path: controls → parse → lookup (exact, then semantic, in the request's partition) → a hit is
/// answered in the API's own format, streamed or not; a miss joins the single flight of identical misses, goes to the
/// provider with the caller's credentials, is passed through as it arrives, and is stored once complete and successful.
/// </summary>
internal sealed partial class CachingProxy : IDisposable
{
    public const string StatusHeader = "x-semcache-status";
    public const string SimilarityHeader = "x-semcache-similarity";
    public const string BestSimilarityHeader = "x-semcache-best-similarity";

    // Never passed on in either direction: they describe one connection, not the message (RFC 9110 §7.6.1).
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length", "expect",
    };

    private readonly Func<SemanticCacheEngine> _engine;
    private readonly ProxyOptions _options;
    private readonly TimeSpan _maxTtl;
    private readonly HttpMessageInvoker _http;
    private readonly SingleFlight _flights = new();
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Counter<long> _requests;

    public CachingProxy(Func<SemanticCacheEngine> engine, ProxyOptions options, TimeSpan maxTtl, Meter meter, ILogger<CachingProxy> logger, HttpMessageHandler? handler = null, TimeProvider? time = null)
    {
        _engine = engine;
        _options = options;
        _maxTtl = maxTtl;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _http = new HttpMessageInvoker(handler ?? new SocketsHttpHandler
        {
            ConnectTimeout = options.ConnectTimeout,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
        });
        _requests = meter.CreateCounter<long>("semcache_proxy_requests", null, "Requests to the caching proxy's endpoints, by API and x-semcache-status (exact, semantic, miss, bypass, error).");
    }

    /// <summary>Closes the connections to the providers.</summary>
    public void Dispose() => _http.Dispose();

    /// <summary>Flights of identical misses in progress (for tests).</summary>
    internal int FlightsInProgress => _flights.Count;

    /// <summary>Serves one request to a cached endpoint of <paramref name="api"/>.</summary>
    public async Task HandleAsync(HttpContext context, ProviderApi api)
    {
        byte[] body;
        ProxyControls controls;
        try
        {
            controls = ProxyControls.Read(context.Request.Headers, _maxTtl);
            body = await ReadBodyAsync(context.Request, context.RequestAborted).ConfigureAwait(false);
        }
        catch (ControlException e)
        {
            await ErrorAsync(context, api, StatusCodes.Status400BadRequest, e.Message, e.Header).ConfigureAwait(false);
            return;
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await ErrorAsync(context, api, e.StatusCode, $"the body exceeds the limit of {context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize} bytes per request (Server:MaxRequestBytes)", null).ConfigureAwait(false);
            return;
        }

        ParsedRequest parsed = api.Parse(body);
        if (parsed.Bypass is not null)
        {
            await BypassAsync(context, api, parsed, parsed.Bypass).ConfigureAwait(false);
            return;
        }

        CacheKey key = Key(context.Request.Headers, api, parsed, controls);
        float? best = null;
        if (!controls.NoCache)
        {
            (CacheMatch? match, float? nearest, string? unusable) = await LookupAsync(key, controls, context.RequestAborted).ConfigureAwait(false);
            if (unusable is not null)
            {
                await BypassAsync(context, api, parsed, unusable).ConfigureAwait(false);
                return;
            }

            if (match is not null && StoredBody(match.Response) is JsonObject stored
                && await AnswerAsync(context, api, parsed, stored, match.Exact ? "exact" : "semantic", match.Similarity).ConfigureAwait(false))
            {
                return;
            }

            best = nearest;
        }

        // Single flight only for requests that both look up and store: the others want their own provider call.
        if (controls.NoCache || controls.NoStore || _options.SingleFlightTimeout <= TimeSpan.Zero)
        {
            await MissAsync(context, api, parsed, key, controls, best).ConfigureAwait(false);
            return;
        }

        if (_flights.Join(key.Flight, out TaskCompletionSource<StoredAnswer?> flight))
        {
            StoredAnswer? answer = null;
            try
            {
                answer = await MissAsync(context, api, parsed, key, controls, best).ConfigureAwait(false);
            }
            finally
            {
                _flights.Land(key.Flight, flight, answer);
            }

            return;
        }

        StoredAnswer? shared = null;
        try
        {
            shared = await flight.Task.WaitAsync(_options.SingleFlightTimeout, _time, context.RequestAborted).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.FlightTimedOut(_logger, api.Name, _options.SingleFlightTimeout);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        if (shared is not null && await AnswerAsync(context, api, parsed, shared.Body, "exact", 1f).ConfigureAwait(false))
        {
            return;
        }

        await MissAsync(context, api, parsed, key, controls, best).ConfigureAwait(false);
    }

    /// <summary>Forwards any other request under <c>/v1/</c> untouched, streaming both ways, and stores nothing.</summary>
    public async Task ForwardAsync(HttpContext context, string path)
    {
        ProviderApi api = context.Request.Headers.ContainsKey("anthropic-version") ? AnthropicMessagesApi.Instance : OpenAiChatApi.Instance;
        HttpContent? content = context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0
            ? new StreamContent(context.Request.Body) : null;
        await SendAsync(context, api, path, content, "bypass", best: null, exchange: null).ConfigureAwait(false);
        _requests.Add(1, new("api", "other"), new("status", "bypass"));
    }

    private async Task BypassAsync(HttpContext context, ProviderApi api, ParsedRequest parsed, string reason)
    {
        Log.Bypassed(_logger, api.Name, reason);
        await SendAsync(context, api, api.Path, new ReadOnlyMemoryContent(parsed.UpstreamBody), "bypass", null, exchange: null).ConfigureAwait(false);
        Count(api, "bypass");
    }

    private async Task<StoredAnswer?> MissAsync(HttpContext context, ProviderApi api, ParsedRequest parsed, CacheKey key, ProxyControls controls, float? best)
    {
        var exchange = new Exchange(parsed, key, controls);
        StoredAnswer? answer = await SendAsync(context, api, api.Path, new ReadOnlyMemoryContent(parsed.UpstreamBody), "miss", best, exchange).ConfigureAwait(false);
        Count(api, "miss");
        return answer;
    }

    /// <summary>What a miss needs to store its answer.</summary>
    private sealed record Exchange(ParsedRequest Parsed, CacheKey Key, ProxyControls Controls);

    /// <summary>
    /// Sends the request to the provider and passes the answer back; with an <paramref name="exchange"/>, stores a
    /// complete successful answer before its last bytes reach the caller (so the caller's next identical request hits)
    /// and returns it.
    /// </summary>
    private async Task<StoredAnswer?> SendAsync(HttpContext context, ProviderApi api, string path, HttpContent? content, string status, float? best, Exchange? exchange)
    {
        UpstreamOptions upstream = api.Upstream(_options);
        string section = api == OpenAiChatApi.Instance ? "Proxy:OpenAI" : "Proxy:Anthropic";
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(upstream.Timeout);
        CancellationToken token = deadline.Token;
        using HttpRequestMessage request = UpstreamRequest(context.Request, upstream.BaseUrl, path, content);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return null;
        }
        catch (OperationCanceledException)
        {
            await ErrorAsync(context, api, StatusCodes.Status504GatewayTimeout, $"the provider at {upstream.BaseUrl} did not answer within {upstream.Timeout} ({section}:Timeout)", null).ConfigureAwait(false);
            return null;
        }
        catch (HttpRequestException e)
        {
            Log.Unreachable(_logger, upstream.BaseUrl, e.Message);
            await ErrorAsync(context, api, StatusCodes.Status502BadGateway, $"the provider at {upstream.BaseUrl} cannot be reached ({section}:BaseUrl): {e.Message}", null).ConfigureAwait(false);
            return null;
        }

        using (response)
        {
            HttpResponse caller = context.Response;
            caller.StatusCode = (int)response.StatusCode;
            CopyHeaders(response, caller);
            caller.Headers[StatusHeader] = status;
            if (best is float b)
            {
                caller.Headers[BestSimilarityHeader] = Format(b);
            }

            bool stream = response.Content.Headers.ContentType?.MediaType == "text/event-stream";
            try
            {
                if (exchange is null || !response.IsSuccessStatusCode)
                {
                    await response.Content.CopyToAsync(caller.Body, token).ConfigureAwait(false);
                    return null;
                }

                return stream
                    ? await RelayStreamAsync(context, api, response, exchange, token).ConfigureAwait(false)
                    : await RelayBodyAsync(context, api, response, exchange, token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or HttpRequestException)
            {
                // The provider's answer was cut off (or the caller left, or the deadline passed): nothing is stored, and
                // the caller's connection is cut too, so that it cannot take a partial answer for a whole one.
                Log.Cut(_logger, api.Name, context.RequestAborted.IsCancellationRequested ? "the caller left" : e.Message);
                context.Abort();
                return null;
            }
        }
    }

    private async Task<StoredAnswer?> RelayBodyAsync(HttpContext context, ProviderApi api, HttpResponseMessage response, Exchange exchange, CancellationToken token)
    {
        byte[] bytes = await response.Content.ReadAsByteArrayAsync(token).ConfigureAwait(false);
        StoredAnswer? answer = api.FromBody(bytes);
        if (answer is not null)
        {
            await StoreAsync(api, exchange, answer, token).ConfigureAwait(false);
        }

        context.Response.ContentLength = bytes.Length;
        await context.Response.Body.WriteAsync(bytes, token).ConfigureAwait(false);
        return answer;
    }

    private async Task<StoredAnswer?> RelayStreamAsync(HttpContext context, ProviderApi api, HttpResponseMessage response, Exchange exchange, CancellationToken token)
    {
        HttpResponse caller = context.Response;
        caller.Headers.ContentLength = null;
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await caller.StartAsync(token).ConfigureAwait(false);

        // Asked for usage on the caller's behalf: its usage chunk is dropped from what the caller gets.
        IStreamAssembler assembler = api.Assembler(dropUsage: exchange.Parsed.Stream && !exchange.Parsed.CallerWantsUsage);
        var reader = new SseEventReader();
        var events = new List<SseEvent>(8);
        var held = new List<ReadOnlyMemory<byte>>();
        Stream body = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer, token).ConfigureAwait(false)) > 0)
            {
                events.Clear();
                reader.Feed(buffer.AsSpan(0, read), events);
                bool wrote = false;
                foreach (SseEvent e in events)
                {
                    StreamEventAction action = assembler.Accept(e);
                    if (action == StreamEventAction.Drop)
                    {
                        continue;
                    }

                    if (action == StreamEventAction.Terminal || held.Count > 0)
                    {
                        held.Add(e.Raw); // the end waits until the answer is stored
                        continue;
                    }

                    await caller.Body.WriteAsync(e.Raw, token).ConfigureAwait(false);
                    wrote = true;
                }

                if (wrote)
                {
                    await caller.Body.FlushAsync(token).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        StoredAnswer? answer = assembler.Result();
        if (answer is not null)
        {
            await StoreAsync(api, exchange, answer, token).ConfigureAwait(false);
        }
        else
        {
            Log.StreamNotStored(_logger, api.Name);
        }

        foreach (ReadOnlyMemory<byte> raw in held)
        {
            await caller.Body.WriteAsync(raw, token).ConfigureAwait(false);
        }

        await caller.Body.WriteAsync(reader.Pending, token).ConfigureAwait(false);
        await caller.Body.FlushAsync(token).ConfigureAwait(false);
        return answer;
    }

    /// <summary>
    /// Writes a stored answer in the form the request asked for; false (nothing written) when the entry is not one this
    /// API can replay (stored under a proxy partition by another client, or by another version).
    /// </summary>
    private async Task<bool> AnswerAsync(HttpContext context, ProviderApi api, ParsedRequest parsed, JsonObject stored, string status, float similarity)
    {
        DateTimeOffset now = _time.GetUtcNow();
        List<byte[]> chunks;
        try
        {
            chunks = parsed.Stream ? [.. api.ReplayStream(stored, parsed.CallerWantsUsage, now)] : [api.ReplayBody(stored, now)];
        }
        catch (Exception e) when (e is InvalidOperationException or InvalidCastException or FormatException or NullReferenceException or ArgumentException)
        {
            Log.Unreplayable(_logger, api.Name, e.Message);
            return false;
        }

        HttpResponse caller = context.Response;
        caller.StatusCode = StatusCodes.Status200OK;
        caller.Headers[StatusHeader] = status;
        caller.Headers[SimilarityHeader] = Format(similarity);
        if (parsed.Stream)
        {
            caller.ContentType = "text/event-stream; charset=utf-8";
            caller.Headers.CacheControl = "no-cache";
        }
        else
        {
            caller.ContentType = "application/json";
            caller.ContentLength = chunks[0].Length;
        }

        foreach (byte[] chunk in chunks)
        {
            await caller.Body.WriteAsync(chunk, context.RequestAborted).ConfigureAwait(false);
        }

        Count(api, status);
        return true;
    }

    private async Task<(CacheMatch? Match, float? Best, string? Unusable)> LookupAsync(CacheKey key, ProxyControls controls, CancellationToken cancellationToken)
    {
        try
        {
            CacheGetResult result = await _engine().GetAsync(new CacheGetRequest
            {
                Namespace = key.Namespace,
                Prompt = key.Messages.Length == 0 ? key.Prompt : null,
                Messages = key.Messages,
                Attributes = key.Attributes,
                MinSimilarity = controls.MinSimilarity,
                ExactOnly = key.ExactOnly,
            }, cancellationToken).ConfigureAwait(false);
            return (result.Hit ? result.Matches[0] : null, result.BestSimilarity, null);
        }
        catch (CacheRequestException e) when (e.Kind is CacheErrorKind.InvalidArgument or CacheErrorKind.ResourceExhausted)
        {
            return (null, null, $"the request cannot be cached ({e.Field}: {e.Reason})");
        }
        catch (CacheRequestException e)
        {
            Log.LookupFailed(_logger, e.Reason); // the cache cannot answer now: the provider can
            return (null, null, null);
        }
    }

    private async Task StoreAsync(ProviderApi api, Exchange exchange, StoredAnswer answer, CancellationToken cancellationToken)
    {
        if (exchange.Controls.NoStore)
        {
            return;
        }

        CacheKey key = exchange.Key;
        try
        {
            await _engine().SetAsync(new CacheSetRequest
            {
                Namespace = key.Namespace,
                Prompt = key.Messages.Length == 0 ? key.Prompt : null,
                Messages = key.Messages,
                Attributes = key.Attributes,
                Response = answer.Body.ToJsonString(ProxyJson.Options),
                TtlSeconds = exchange.Controls.TtlSeconds,
                UsageModel = answer.Model.Length <= 256 ? answer.Model : answer.Model[..256],
                InputTokens = answer.InputTokens,
                OutputTokens = answer.OutputTokens,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (CacheRequestException e)
        {
            Log.NotStored(_logger, api.Name, e.Field, e.Reason);
        }
    }

    private static JsonObject? StoredBody(string response)
    {
        try
        {
            return JsonNode.Parse(response) as JsonObject;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or ArgumentException)
        {
            return null; // an entry another client stored under a proxy partition: not an answer this API can replay
        }
    }

    private CacheKey Key(IHeaderDictionary headers, ProviderApi api, ParsedRequest parsed, ProxyControls controls)
    {
        string ns = controls.Namespace ?? Partition.CheckNamespace(_options.Namespace, "Proxy:Namespace");
        var attributes = new List<KeyValuePair<string, string>>(8)
        {
            new("semcache.api", api.Name),
            new("model", parsed.Model),
            new("params", parsed.ParametersHash),
        };
        if (HeadersHash(headers, api.AnswerHeaders) is string answerHeaders)
        {
            attributes.Add(new("headers", answerHeaders));
        }

        if (!_options.ShareAcrossCredentials)
        {
            attributes.Add(new("tenant", HeadersHash(headers, api.CredentialHeaders) ?? "anonymous"));
        }

        if (parsed.AttachmentsHash.Length > 0)
        {
            attributes.Add(new("attachments", parsed.AttachmentsHash));
        }

        if (parsed.ExactOnly)
        {
            attributes.Add(new("match", "exact"));
        }

        ChatMessage[] messages = parsed.ContextHash.Length == 0 ? [] : [new("context", parsed.ContextHash), new("user", parsed.Prompt)];
        var flight = new StringBuilder(256).Append(ns);
        foreach ((string name, string value) in attributes)
        {
            flight.Append('\n').Append(name).Append('=').Append(value);
        }

        flight.Append('\n').Append(parsed.ContextHash).Append('\n').Append(parsed.Prompt);
        return new CacheKey(ns, attributes, messages, parsed.Prompt, parsed.ExactOnly, flight.ToString());
    }

    /// <summary>SHA-256 (first 16 bytes, hex) of the named headers' values, or null when none is present; never the values themselves.</summary>
    private static string? HeadersHash(IHeaderDictionary headers, IReadOnlyList<string> names)
    {
        var text = new StringBuilder();
        foreach (string name in names)
        {
            if (headers.TryGetValue(name, out Microsoft.Extensions.Primitives.StringValues values))
            {
                text.Append(name).Append(':').Append(string.Join(",", values.ToArray())).Append('\n');
            }
        }

        return text.Length == 0 ? null : CanonicalJson.HashBytes(Encoding.UTF8.GetBytes(text.ToString()));
    }

    private static HttpRequestMessage UpstreamRequest(HttpRequest incoming, string baseUrl, string path, HttpContent? content)
    {
        var request = new HttpRequestMessage(new HttpMethod(incoming.Method), baseUrl.TrimEnd('/') + "/" + path + incoming.QueryString.Value)
        {
            Content = content,
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrHigher,
        };
        foreach ((string name, Microsoft.Extensions.Primitives.StringValues values) in incoming.Headers)
        {
            // The caller's credentials and everything else go on unchanged; not what describes this hop, asks this cache
            // something, or would have the provider compress (the proxy reads the answer).
            if (HopByHop.Contains(name) || name.StartsWith("x-semcache-", StringComparison.OrdinalIgnoreCase)
                || name.Equals("cache-control", StringComparison.OrdinalIgnoreCase) || name.Equals("accept-encoding", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!request.Headers.TryAddWithoutValidation(name, values.ToArray()))
            {
                content?.Headers.TryAddWithoutValidation(name, values.ToArray());
            }
        }

        return request;
    }

    private static void CopyHeaders(HttpResponseMessage response, HttpResponse caller)
    {
        foreach (KeyValuePair<string, IEnumerable<string>> header in response.Headers.Concat(response.Content.Headers))
        {
            // Kestrel writes its own Date and Server.
            if (!HopByHop.Contains(header.Key) && header.Key is not ("Date" or "Server"))
            {
                caller.Headers[header.Key] = header.Value.ToArray();
            }
        }
    }

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream(request.ContentLength is long n and <= 1 << 24 ? (int)n : 4096);
        await request.Body.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        return buffer.ToArray();
    }

    private async Task ErrorAsync(HttpContext context, ProviderApi api, int status, string message, string? param)
    {
        if (context.Response.HasStarted)
        {
            context.Abort();
            return;
        }

        byte[] bytes = api.Error(status, message, param);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = bytes.Length;
        await context.Response.Body.WriteAsync(bytes, context.RequestAborted).ConfigureAwait(false);
        Count(api, "error");
    }

    private void Count(ProviderApi api, string status) => _requests.Add(1, new("api", api.Name), new("status", status));

    private static string Format(float similarity) => similarity.ToString("0.####", CultureInfo.InvariantCulture);

    private static partial class Log
    {
        [LoggerMessage(EventId = 40, Level = LogLevel.Debug, Message = "Proxy {Api}: forwarded without caching: {Reason}")]
        public static partial void Bypassed(ILogger logger, string api, string reason);

        [LoggerMessage(EventId = 41, Level = LogLevel.Warning, Message = "Proxy: the provider at {BaseUrl} cannot be reached: {Reason}")]
        public static partial void Unreachable(ILogger logger, string baseUrl, string reason);

        [LoggerMessage(EventId = 42, Level = LogLevel.Information, Message = "Proxy {Api}: the answer was cut off and is not stored: {Reason}")]
        public static partial void Cut(ILogger logger, string api, string reason);

        [LoggerMessage(EventId = 43, Level = LogLevel.Debug, Message = "Proxy {Api}: the stream did not end with a complete answer this proxy can replay; not stored")]
        public static partial void StreamNotStored(ILogger logger, string api);

        [LoggerMessage(EventId = 44, Level = LogLevel.Warning, Message = "Proxy {Api}: the answer was not stored ({Field}: {Reason})")]
        public static partial void NotStored(ILogger logger, string api, string field, string reason);

        [LoggerMessage(EventId = 45, Level = LogLevel.Warning, Message = "Proxy: the cache could not be read, the request goes to the provider: {Reason}")]
        public static partial void LookupFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 47, Level = LogLevel.Warning, Message = "Proxy {Api}: a matching entry is not an answer this API can replay ({Reason}); treated as a miss")]
        public static partial void Unreplayable(ILogger logger, string api, string reason);

        [LoggerMessage(EventId = 46, Level = LogLevel.Information, Message = "Proxy {Api}: an identical request's provider call took longer than {Timeout} (Proxy:SingleFlightTimeout); calling the provider")]
        public static partial void FlightTimedOut(ILogger logger, string api, TimeSpan timeout);
    }
}

/// <summary>Where a proxied request is looked up and stored: the engine's partition and matched text, and the single-flight key.</summary>
internal sealed record CacheKey(string Namespace, IReadOnlyList<KeyValuePair<string, string>> Attributes, ChatMessage[] Messages, string Prompt, bool ExactOnly, string Flight);
