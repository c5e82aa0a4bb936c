using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using SemCache.Protocol.V1;

namespace SemCache.Client;

/// <summary>
/// The SemCache client: Get, Set, SetMany, Delete, Stats and Embed over gRPC, each within one deadline
/// (<see cref="SemCacheClientOptions.Timeout"/>, retries included). Transient failures (UNAVAILABLE) of idempotent calls are
/// retried with jittered exponential backoff. Failing open (the default), a Get that cannot be answered is a miss marked
/// <see cref="CacheLookup.Failed"/> and a Set stores nothing, both logged and counted (<see cref="FailureCount"/>, and the
/// <c>semcache.client.failures</c> counter of the <c>SemCache.Client</c> meter); Delete, Stats and Embed always throw
/// <see cref="SemCacheException"/>, since a caller of those needs their answer. The caller's cancellation is always thrown.
/// Thread-safe; make one per application.
/// </summary>
public sealed partial class SemCacheClient : IDisposable
{
    /// <summary>The name of the meter the client's counters are in.</summary>
    public const string MeterName = "SemCache.Client";

    private readonly Func<SemanticCache.SemanticCacheClient> _grpc;
    private readonly GrpcChannel? _ownedChannel;
    private readonly SemCacheClientOptions _options;
    private readonly ILogger _logger;
    private readonly Meter? _ownedMeter;
    private readonly Counter<long> _failures;
    private readonly ResiliencePipeline _retry;
    private long _failureCount;

    /// <summary>Creates a client with a channel of its own to <see cref="SemCacheClientOptions.Address"/>.</summary>
    /// <param name="options">Where the cache is and how to call it.</param>
    /// <param name="logger">Where failures are logged; null for none.</param>
    public SemCacheClient(SemCacheClientOptions options, ILogger<SemCacheClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _ownedChannel = GrpcChannel.ForAddress(options.Address, new GrpcChannelOptions
        {
            HttpHandler = options.HttpHandler ?? new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            DisposeHttpClient = options.HttpHandler is null,
        });
        var client = new SemanticCache.SemanticCacheClient(_ownedChannel);
        _grpc = () => client;
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _ownedMeter = new Meter(MeterName);
        _failures = CreateFailureCounter(_ownedMeter);
        _retry = CreateRetry(options);
    }

    /// <summary>Creates a client over gRPC clients made elsewhere (by the client factory of dependency injection).</summary>
    internal SemCacheClient(Func<SemanticCache.SemanticCacheClient> grpc, SemCacheClientOptions options, ILogger logger, IMeterFactory? meterFactory)
    {
        options.Validate();
        _grpc = grpc;
        _options = options;
        _logger = logger;
        Meter meter;
        if (meterFactory is null)
        {
            meter = _ownedMeter = new Meter(MeterName);
        }
        else
        {
            meter = meterFactory.Create(MeterName);
        }

        _failures = CreateFailureCounter(meter);
        _retry = CreateRetry(options);
    }

    /// <summary>The namespace of calls that do not name one.</summary>
    public string Namespace => _options.Namespace;

    /// <summary>Cache calls that failed (and, failing open, were answered as a miss or not stored) since the client was made.</summary>
    public long FailureCount => Interlocked.Read(ref _failureCount);

    /// <summary>Looks a prompt or conversation up.</summary>
    /// <param name="query">The prompt or conversation, its partition and how close a match must be.</param>
    /// <param name="cancellationToken">The caller's cancellation; always thrown, never answered as a miss.</param>
    /// <returns>The matches; failing open, a miss marked <see cref="CacheLookup.Failed"/> when the cache could not answer.</returns>
    /// <exception cref="SemCacheException">The cache could not answer and <see cref="SemCacheClientOptions.FailOpen"/> is false.</exception>
    public async Task<CacheLookup> GetAsync(CacheQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var request = new GetRequest
        {
            Namespace = query.Namespace ?? _options.Namespace,
            Prompt = query.Prompt ?? "",
            TopK = (uint)Math.Max(0, query.TopK),
            ExactOnly = query.ExactOnly,
        };
        if (query.MinSimilarity is { } min)
        {
            request.MinSimilarity = min;
        }

        AddMessages(request.Messages, query.Messages);
        AddAttributes(request.Attributes, query.Attributes);
        try
        {
            GetResponse response = await CallAsync("Get", idempotent: true, (c, t) => c.GetAsync(request, cancellationToken: t).ResponseAsync, cancellationToken)
                .ConfigureAwait(false);
            var matches = new CacheHit[response.Matches.Count];
            for (int i = 0; i < matches.Length; i++)
            {
                Match m = response.Matches[i];
                matches[i] = new CacheHit(m.Id, m.Prompt, m.Response, m.Similarity, m.Exact, ToUsage(m.Usage), DateTimeOffset.FromUnixTimeMilliseconds(m.ExpiresUnixMs));
            }

            return new CacheLookup
            {
                Matches = matches,
                BestSimilarity = response.HasBestSimilarity ? response.BestSimilarity : null,
                PromptTruncated = response.PromptTruncated,
            };
        }
        catch (SemCacheException e) when (_options.FailOpen)
        {
            return new CacheLookup { Error = e };
        }
    }

    /// <summary>Stores a response under its prompt or conversation, replacing an entry with the same exact key.</summary>
    /// <param name="entry">The response, its key and partition, TTL and usage.</param>
    /// <param name="cancellationToken">The caller's cancellation; always thrown.</param>
    /// <returns>The stored entry; failing open, one marked <see cref="CacheStored.Failed"/> when nothing could be stored.</returns>
    /// <exception cref="SemCacheException">The cache could not store it and <see cref="SemCacheClientOptions.FailOpen"/> is false.</exception>
    public async Task<CacheStored> SetAsync(CacheEntry entry, CancellationToken cancellationToken = default)
    {
        SetRequest request = ToSetRequest(entry);
        try
        {
            // A repeated Set replaces the entry with the same exact key, so a retry leaves the cache as one Set would.
            SetResponse response = await CallAsync("Set", idempotent: true, (c, t) => c.SetAsync(request, cancellationToken: t).ResponseAsync, cancellationToken)
                .ConfigureAwait(false);
            return ToStored(response);
        }
        catch (SemCacheException e) when (_options.FailOpen)
        {
            return new CacheStored { Error = e };
        }
    }

    /// <summary>Stores many responses in one call; one invalid entry rejects all of them.</summary>
    /// <param name="entries">The entries (at most the server's <c>Cache:MaxSetManyEntries</c>, default 1,000).</param>
    /// <param name="cancellationToken">The caller's cancellation; always thrown.</param>
    /// <returns>One outcome per entry, in order; failing open, each marked <see cref="CacheStored.Failed"/> when nothing was stored.</returns>
    /// <exception cref="SemCacheException">The cache could not store them and <see cref="SemCacheClientOptions.FailOpen"/> is false.</exception>
    public async Task<IReadOnlyList<CacheStored>> SetManyAsync(IEnumerable<CacheEntry> entries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var request = new SetManyRequest();
        foreach (CacheEntry entry in entries)
        {
            request.Entries.Add(ToSetRequest(entry));
        }

        try
        {
            SetManyResponse response = await CallAsync(
                "SetMany", idempotent: true, (c, t) => c.SetManyAsync(request, cancellationToken: t).ResponseAsync, cancellationToken).ConfigureAwait(false);
            var results = new CacheStored[response.Results.Count];
            for (int i = 0; i < results.Length; i++)
            {
                results[i] = ToStored(response.Results[i]);
            }

            return results;
        }
        catch (SemCacheException e) when (_options.FailOpen)
        {
            var failed = new CacheStored[request.Entries.Count];
            Array.Fill(failed, new CacheStored { Error = e });
            return failed;
        }
    }

    /// <summary>Deletes one entry by id.</summary>
    /// <param name="id">The id Set returned.</param>
    /// <param name="namespace">Its namespace; null for the client's.</param>
    /// <param name="cancellationToken">The caller's cancellation.</param>
    /// <returns>Entries deleted (0 or 1).</returns>
    /// <exception cref="SemCacheException">The cache could not answer.</exception>
    public Task<long> DeleteAsync(string id, string? @namespace = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        return DeleteAsync(new DeleteRequest { Namespace = @namespace ?? _options.Namespace, Id = id }, idempotent: true, cancellationToken);
    }

    /// <summary>Deletes a partition (the entries with these attributes and this conversation context), or a whole namespace.</summary>
    /// <param name="attributes">The partition's attributes; null with <paramref name="messages"/> null for the whole namespace.</param>
    /// <param name="messages">The partition's conversation (its context is the messages before the last user message).</param>
    /// <param name="namespace">The namespace; null for the client's.</param>
    /// <param name="cancellationToken">The caller's cancellation.</param>
    /// <returns>Entries deleted.</returns>
    /// <exception cref="SemCacheException">The cache could not answer.</exception>
    public Task<long> DeletePartitionAsync(
        IReadOnlyDictionary<string, string>? attributes, IReadOnlyList<CacheMessage>? messages = null, string? @namespace = null, CancellationToken cancellationToken = default)
    {
        var request = new DeleteRequest { Namespace = @namespace ?? _options.Namespace };
        if (attributes is null && messages is null)
        {
            request.EntireNamespace = true;
        }

        AddAttributes(request.Attributes, attributes);
        AddMessages(request.Messages, messages);

        // Not retried: between a lost answer and its retry another client may have stored into the partition.
        return DeleteAsync(request, idempotent: false, cancellationToken);
    }

    /// <summary>The counters of the whole cache or of one namespace.</summary>
    /// <param name="namespace">A namespace, or null for the whole cache.</param>
    /// <param name="cancellationToken">The caller's cancellation.</param>
    /// <returns>The counters since the server started.</returns>
    /// <exception cref="SemCacheException">The cache could not answer.</exception>
    public async Task<CacheStatistics> StatsAsync(string? @namespace = null, CancellationToken cancellationToken = default)
    {
        var request = new StatsRequest { Namespace = @namespace ?? "" };
        StatsResponse s = await CallAsync("Stats", idempotent: true, (c, t) => c.StatsAsync(request, cancellationToken: t).ResponseAsync, cancellationToken)
            .ConfigureAwait(false);
        return new CacheStatistics(
            (long)s.Entries, (long)s.Gets, (long)s.ExactHits, (long)s.SemanticHits, (long)s.Misses, s.HitRate, (long)s.Sets, (long)s.TokensSaved, s.CostSavedUsd,
            (long)s.UnpricedTokens);
    }

    /// <summary>Embeds texts with the server's model.</summary>
    /// <param name="texts">The texts, each embedded on its own.</param>
    /// <param name="cancellationToken">The caller's cancellation.</param>
    /// <returns>One vector per text, and the model's name.</returns>
    /// <exception cref="SemCacheException">The cache could not answer.</exception>
    public async Task<CacheEmbeddings> EmbedAsync(IEnumerable<string> texts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var request = new EmbedRequest();
        request.Texts.Add(texts);
        EmbedResponse response = await CallAsync("Embed", idempotent: true, (c, t) => c.EmbedAsync(request, cancellationToken: t).ResponseAsync, cancellationToken)
            .ConfigureAwait(false);
        var vectors = new float[response.Vectors.Count][];
        for (int i = 0; i < vectors.Length; i++)
        {
            vectors[i] = [.. response.Vectors[i].Values];
        }

        return new CacheEmbeddings(response.Model, vectors);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _ownedChannel?.Dispose();
        _ownedMeter?.Dispose();
    }

    private async Task<long> DeleteAsync(DeleteRequest request, bool idempotent, CancellationToken cancellationToken)
    {
        DeleteResponse response = await CallAsync("Delete", idempotent, (c, t) => c.DeleteAsync(request, cancellationToken: t).ResponseAsync, cancellationToken)
            .ConfigureAwait(false);
        return (long)response.Deleted;
    }

    /// <summary>
    /// Runs one call within the deadline, retrying transient failures of an idempotent one; every failure but the caller's
    /// cancellation becomes a logged, counted <see cref="SemCacheException"/>.
    /// </summary>
    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "Any failure of the cache must reach the caller as one typed exception, or as a miss when failing open.")]
    private async Task<T> CallAsync<T>(
        string method, bool idempotent, Func<SemanticCache.SemanticCacheClient, CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.Timeout);
        try
        {
            SemanticCache.SemanticCacheClient client = _grpc();
            ResiliencePipeline pipeline = idempotent ? _retry : ResiliencePipeline.Empty;
            return await pipeline.ExecuteAsync(async token => await call(client, token).ConfigureAwait(false), deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            cancellationToken.ThrowIfCancellationRequested();
            StatusCode status = deadline.IsCancellationRequested ? StatusCode.DeadlineExceeded : e is RpcException rpc ? rpc.StatusCode : StatusCode.Unknown;
            Interlocked.Increment(ref _failureCount);
            _failures.Add(1, new KeyValuePair<string, object?>("method", method), new KeyValuePair<string, object?>("status", status.ToString()));
            Log.CallFailed(_logger, method, status, _options.FailOpen, e);
            string message = status == StatusCode.DeadlineExceeded
                ? $"SemCache {method} did not answer within {_options.Timeout.TotalMilliseconds:F0} ms."
                : $"SemCache {method} failed: {status}: {(e is RpcException r ? r.Status.Detail : e.Message)}";
            throw new SemCacheException(message, e) { StatusCode = status };
        }
    }

    private static Counter<long> CreateFailureCounter(Meter meter) =>
        meter.CreateCounter<long>("semcache.client.failures", unit: "{call}", description: "Cache calls that failed (answered as a miss or not stored when failing open).");

    private static ResiliencePipeline CreateRetry(SemCacheClientOptions options)
    {
        if (options.MaxRetries == 0)
        {
            return ResiliencePipeline.Empty;
        }

        return new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<RpcException>(e => e.StatusCode == StatusCode.Unavailable),
                MaxRetryAttempts = options.MaxRetries,
                Delay = options.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
            })
            .Build();
    }

    private SetRequest ToSetRequest(CacheEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var request = new SetRequest
        {
            Namespace = entry.Namespace ?? _options.Namespace,
            Prompt = entry.Prompt ?? "",
            Response = entry.Response,
            TtlSeconds = entry.Ttl is { } ttl ? (uint)Math.Clamp(Math.Ceiling(ttl.TotalSeconds), 1, uint.MaxValue) : 0,
        };
        if (entry.Usage is { } usage)
        {
            request.Usage = new Usage { Model = usage.Model ?? "", InputTokens = (uint)Math.Max(0, usage.InputTokens), OutputTokens = (uint)Math.Max(0, usage.OutputTokens) };
        }

        AddMessages(request.Messages, entry.Messages);
        AddAttributes(request.Attributes, entry.Attributes);
        return request;
    }

    private static CacheStored ToStored(SetResponse response) =>
        new() { Id = response.Id, Replaced = response.Replaced, SemanticallyIndexed = response.SemanticallyIndexed };

    private static CacheUsage? ToUsage(Usage? usage) =>
        usage is null ? null : new CacheUsage(usage.Model, (int)Math.Min(usage.InputTokens, int.MaxValue), (int)Math.Min(usage.OutputTokens, int.MaxValue));

    private static void AddMessages(Google.Protobuf.Collections.RepeatedField<ChatMessage> target, IReadOnlyList<CacheMessage>? messages)
    {
        if (messages is null)
        {
            return;
        }

        foreach (CacheMessage m in messages)
        {
            target.Add(new ChatMessage { Role = m.Role, Content = m.Content });
        }
    }

    private static void AddAttributes(Google.Protobuf.Collections.MapField<string, string> target, IReadOnlyDictionary<string, string>? attributes)
    {
        if (attributes is null)
        {
            return;
        }

        foreach (KeyValuePair<string, string> a in attributes)
        {
            target[a.Key] = a.Value;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "SemCache {Method} failed with {Status} (fail open: {FailOpen})")]
        public static partial void CallFailed(ILogger logger, string method, StatusCode status, bool failOpen, Exception exception);
    }
}
