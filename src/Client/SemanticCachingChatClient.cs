using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SemCache.Client;

/// <summary>
/// A chat client that answers from SemCache when a conversation was answered before in so many words or in others, and
/// otherwise calls the inner client and stores its answer.
/// </summary>
/// <remarks>
/// <para>
/// The key: the last user message is the prompt matched; the messages before it are the context, which must be identical
/// (role and content; message ids, timestamps and raw representations are not part of it); the attributes are the model id
/// and a SHA-256 of every <see cref="ChatOptions"/> field that changes the answer (temperature, top-p/k, penalties, maximum
/// output tokens, seed, stop sequences, response format with its schema, tool mode, each tool's name, description and
/// schemas, instructions, reasoning options, additional properties but the <c>semcache.*</c> controls). A call whose last
/// message is not the user's text (a tool result, an image), that names a <see cref="ChatOptions.ConversationId"/> (the
/// provider keeps part of the context, so the messages sent are not all of it) or continues a background response goes to
/// the inner client uncached.
/// </para>
/// <para>
/// What is stored: only a complete, plain-text answer: every content of the response is text, its finish reason is
/// <see cref="ChatFinishReason.Stop"/> (or none), and the call neither threw nor was cancelled nor abandoned. A response that
/// calls a function, reasons, or carries data or was cut off by its length limit is not stored, since replaying only its
/// text would not be the same answer. A hit is replayed as that text from the assistant, finish reason Stop, the usage and
/// model id recorded with it, and <c>semcache.status</c> (<c>exact</c> or <c>semantic</c>) and <c>semcache.similarity</c> in
/// its additional properties. Streamed and non-streamed calls share entries.
/// </para>
/// <para>
/// Per call, in <see cref="ChatOptions.AdditionalProperties"/>: <c>semcache.skip</c> (true: neither look up nor store),
/// <c>semcache.no_store</c> (true: look up, do not store), <c>semcache.min_similarity</c> (a number) and
/// <c>semcache.ttl_seconds</c> (a whole number). Concurrent identical misses (same namespace, attributes, context and prompt)
/// of non-streamed calls make one inner call, whose answer (or exception) all of them get. A cache that is down or slow costs
/// at most <see cref="SemCacheClientOptions.Timeout"/> per cache call (the lookup, and the store after a miss): the call goes
/// on to the inner client. With <see cref="SemCacheClientOptions.FailOpen"/> false a failed lookup throws, but a failed store
/// is only logged: the caller still gets the answer it paid for.
/// </para>
/// </remarks>
public sealed partial class SemanticCachingChatClient : DelegatingChatClient
{
    /// <summary>The key of <see cref="ChatOptions.AdditionalProperties"/> that, true, bypasses the cache for a call.</summary>
    public const string SkipProperty = "semcache.skip";

    /// <summary>The key that, true, looks a call up but does not store its answer.</summary>
    public const string NoStoreProperty = "semcache.no_store";

    /// <summary>The key of a call's minimum similarity for a semantic hit.</summary>
    public const string MinSimilarityProperty = "semcache.min_similarity";

    /// <summary>The key of a call's time to live for its stored answer, in seconds.</summary>
    public const string TtlSecondsProperty = "semcache.ttl_seconds";

    /// <summary>The key of a cached response's <c>exact</c> or <c>semantic</c>.</summary>
    public const string StatusProperty = "semcache.status";

    /// <summary>The key of a cached response's similarity to the call.</summary>
    public const string SimilarityProperty = "semcache.similarity";

    private readonly SemCacheClient _cache;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Task<ChatResponse>> _flights = new(StringComparer.Ordinal);

    /// <summary>Creates the middleware in front of <paramref name="innerClient"/>.</summary>
    /// <param name="innerClient">The client that answers misses.</param>
    /// <param name="cache">The cache.</param>
    /// <param name="logger">Where skipped stores are logged; null for none.</param>
    public SemanticCachingChatClient(IChatClient innerClient, SemCacheClient cache, ILogger<SemanticCachingChatClient>? logger = null)
        : base(innerClient)
    {
        ArgumentNullException.ThrowIfNull(cache);
        _cache = cache;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>The namespace entries are looked up and stored in. Default null: the client's <see cref="SemCacheClient.Namespace"/>.</summary>
    public string? Namespace { get; set; }

    /// <summary>The similarity a semantic hit needs. Default null: the server's <c>Cache:DefaultThreshold</c>.</summary>
    public float? MinSimilarity { get; set; }

    /// <summary>How long stored answers live. Default null: the server's <c>Storage:DefaultTtl</c>.</summary>
    public TimeSpan? Ttl { get; set; }

    /// <inheritdoc/>
    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        List<ChatMessage> list = [.. messages];
        ChatCacheKey? key = Flag(options, SkipProperty) ? null : ChatCacheKey.Create(list, options, DefaultModelId());
        if (key is null)
        {
            return await base.GetResponseAsync(list, options, cancellationToken).ConfigureAwait(false);
        }

        string flightKey = key.FlightKey(Namespace ?? _cache.Namespace);
        while (true)
        {
            var mine = new TaskCompletionSource<ChatResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
            Task<ChatResponse> flight = _flights.GetOrAdd(flightKey, mine.Task);
            if (flight != mine.Task)
            {
                try
                {
                    return Copy(await flight.WaitAsync(cancellationToken).ConfigureAwait(false));
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // The call this one waited on was cancelled by its own caller: this one is not, so it tries again.
                    continue;
                }
            }

            try
            {
                ChatResponse response = await LookUpOrCallAsync(key, list, options, cancellationToken).ConfigureAwait(false);
                mine.SetResult(response);
                return response;
            }
            catch (OperationCanceledException e)
            {
                mine.SetCanceled(e.CancellationToken);
                throw;
            }
            catch (Exception e)
            {
                mine.SetException(e);

                // Observed here, so that a failure nobody else waited for is not reported again as an unobserved task exception.
                _ = mine.Task.Exception;
                throw;
            }
            finally
            {
                _flights.TryRemove(new KeyValuePair<string, Task<ChatResponse>>(flightKey, mine.Task));
            }
        }
    }

    /// <inheritdoc/>
    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        List<ChatMessage> list = [.. messages];
        ChatCacheKey? key = Flag(options, SkipProperty) ? null : ChatCacheKey.Create(list, options, DefaultModelId());
        if (key is not null)
        {
            CacheLookup lookup = await LookUpAsync(key, options, cancellationToken).ConfigureAwait(false);
            if (lookup.Best is { } hit)
            {
                foreach (ChatResponseUpdate update in ToResponse(hit).ToChatResponseUpdates())
                {
                    yield return update;
                }

                yield break;
            }
        }

        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate update in base.GetStreamingResponseAsync(list, options, cancellationToken).ConfigureAwait(false))
        {
            updates.Add(update);
            yield return update;
        }

        // Reached only when the inner stream completed and the caller read it to its end: an abandoned or failed stream is
        // never stored.
        if (key is not null)
        {
            await StoreAsync(key, options, updates.ToChatResponse()).ConfigureAwait(false);
        }
    }

    private async Task<ChatResponse> LookUpOrCallAsync(ChatCacheKey key, List<ChatMessage> messages, ChatOptions? options, CancellationToken cancellationToken)
    {
        CacheLookup lookup = await LookUpAsync(key, options, cancellationToken).ConfigureAwait(false);
        if (lookup.Best is { } hit)
        {
            return ToResponse(hit);
        }

        ChatResponse response = await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
        await StoreAsync(key, options, response).ConfigureAwait(false);
        return response;
    }

    private Task<CacheLookup> LookUpAsync(ChatCacheKey key, ChatOptions? options, CancellationToken cancellationToken)
    {
        float? min = Number(options, MinSimilarityProperty) is { } perCall ? (float)perCall : MinSimilarity;
        return _cache.GetAsync(
            new CacheQuery
            {
                Namespace = Namespace,
                Messages = [.. key.Context, new CacheMessage("user", key.Prompt)],
                Attributes = key.Attributes,
                MinSimilarity = min,
            },
            cancellationToken);
    }

    private async Task StoreAsync(ChatCacheKey key, ChatOptions? options, ChatResponse response)
    {
        if (Flag(options, NoStoreProperty))
        {
            return;
        }

        if (!IsReplayable(response, out string text))
        {
            Log.NotStored(_logger, response.FinishReason?.Value);
            return;
        }

        TimeSpan? ttl = Number(options, TtlSecondsProperty) is { } seconds ? TimeSpan.FromSeconds(seconds) : Ttl;
        CacheUsage? usage = response.Usage is { } u || response.ModelId is not null
            ? new CacheUsage(
                response.ModelId ?? key.Attributes["model"],
                (int)Math.Clamp(response.Usage?.InputTokenCount ?? 0, 0, int.MaxValue),
                (int)Math.Clamp(response.Usage?.OutputTokenCount ?? 0, 0, int.MaxValue))
            : null;

        // The answer is already the caller's: storing it does not depend on the caller's token (the client's timeout bounds
        // it), and a store that fails does not cost the caller the answer, even when the client does not fail open.
        try
        {
            await _cache.SetAsync(
            new CacheEntry
            {
                Namespace = Namespace,
                Messages = [.. key.Context, new CacheMessage("user", key.Prompt)],
                Attributes = key.Attributes,
                Response = text,
                Ttl = ttl,
                Usage = usage,
            },
            CancellationToken.None).ConfigureAwait(false);
        }
        catch (SemCacheException e)
        {
            Log.StoreFailed(_logger, e);
        }
    }

    /// <summary>A response is stored only when its text is all of it: a complete, plain-text answer from the assistant.</summary>
    private static bool IsReplayable(ChatResponse response, out string text)
    {
        text = response.Text;
        if (response.FinishReason is { } reason && reason != ChatFinishReason.Stop)
        {
            return false;
        }

        foreach (ChatMessage message in response.Messages)
        {
            if (message.Role != ChatRole.Assistant)
            {
                return false;
            }

            foreach (AIContent content in message.Contents)
            {
                if (content is not TextContent and not UsageContent)
                {
                    return false;
                }
            }
        }

        return text.Length > 0;
    }

    private static ChatResponse ToResponse(CacheHit hit)
    {
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, hit.Response))
        {
            FinishReason = ChatFinishReason.Stop,
            ModelId = string.IsNullOrEmpty(hit.Usage?.Model) ? null : hit.Usage.Model,
            AdditionalProperties = new AdditionalPropertiesDictionary
            {
                [StatusProperty] = hit.Exact ? "exact" : "semantic",
                [SimilarityProperty] = hit.Similarity,
            },
        };
        if (hit.Usage is { } usage)
        {
            response.Usage = new UsageDetails
            {
                InputTokenCount = usage.InputTokens,
                OutputTokenCount = usage.OutputTokens,
                TotalTokenCount = (long)usage.InputTokens + usage.OutputTokens,
            };
        }

        return response;
    }

    /// <summary>Each waiter of a shared call gets its own response object, so that one caller changing it changes no other's.</summary>
    private static ChatResponse Copy(ChatResponse r) =>
        new([.. r.Messages.Select(m => m.Clone())])
        {
            FinishReason = r.FinishReason,
            ModelId = r.ModelId,
            Usage = r.Usage,
            ResponseId = r.ResponseId,
            ConversationId = r.ConversationId,
            CreatedAt = r.CreatedAt,
            RawRepresentation = r.RawRepresentation,
            AdditionalProperties = r.AdditionalProperties is null ? null : new AdditionalPropertiesDictionary(r.AdditionalProperties),
        };

    private string? DefaultModelId() => InnerClient.GetService<ChatClientMetadata>()?.DefaultModelId;

    private static bool Flag(ChatOptions? options, string name) =>
        options?.AdditionalProperties?.TryGetValue(name, out object? value) == true && value switch
        {
            bool b => b,
            string s => bool.TryParse(s, out bool parsed) && parsed,
            JsonElement { ValueKind: JsonValueKind.True } => true,
            _ => false,
        };

    private static double? Number(ChatOptions? options, string name)
    {
        if (options?.AdditionalProperties?.TryGetValue(name, out object? value) != true || value is null)
        {
            return null;
        }

        return value switch
        {
            JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble(),
            string s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) ? parsed : null,
            IConvertible c => c.ToDouble(CultureInfo.InvariantCulture),
            _ => null,
        };
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 101, Level = LogLevel.Debug, Message = "Response not stored: not a complete plain-text answer (finish reason {FinishReason})")]
        public static partial void NotStored(ILogger logger, string? finishReason);

        [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Response not stored: the cache failed")]
        public static partial void StoreFailed(ILogger logger, Exception exception);
    }
}
