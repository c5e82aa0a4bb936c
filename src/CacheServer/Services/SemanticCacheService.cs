using Google.Protobuf.Collections;
using Grpc.Core;
using Microsoft.Extensions.Options;
using SemCache.Cache;
using SemCache.CacheServer.Requests;
using SemCache.Embedding;
using SemCache.Protocol.V1;
using ProtoChatMessage = SemCache.Protocol.V1.ChatMessage;
using ProtoSemanticLayer = SemCache.Protocol.V1.SemanticLayer;

namespace SemCache.CacheServer.Services;

/// <summary>Maps the SemanticCache contract onto the engine: messages in and out, errors to statuses. No cache logic.</summary>
/// <remarks>
/// Bound through <see cref="SemanticCacheBinding"/>, so that malformed request bytes get INVALID_ARGUMENT naming the
/// field. grpc-dotnet binds a method only where the bind method's service type declares it virtually, so this class
/// declares the contract's methods itself instead of overriding the generated base; a method missing here fails
/// start-up ("Could not find 'X'"), which every server test would show.
/// </remarks>
[BindServiceMethod(typeof(SemanticCacheBinding), nameof(SemanticCacheBinding.BindService))]
#pragma warning disable CA1852 // not sealed: grpc-dotnet requires the handlers to be virtual members of this type
internal class SemanticCacheService(CacheEngineHost host, TextEmbedder embedder, IOptions<ServerOptions> options)
#pragma warning restore CA1852
{
    private readonly ServerOptions _options = options.Value;

    // Kestrel takes calls only once the engine is open and drains them before it closes; should one still come
    // between, it is UNAVAILABLE (retry), not UNKNOWN.
    private SemanticCacheEngine Engine => host.OpenEngine
        ?? throw RequestErrors.ToRpcException(StatusCode.Unavailable, RequestErrors.WholeRequest, "the cache is starting or stopping; retry shortly");

    public virtual async Task<GetResponse> Get(GetRequest request, ServerCallContext context)
    {
        CacheGetResult result = await Run(() => Engine.GetAsync(new CacheGetRequest
        {
            Namespace = request.Namespace,
            Prompt = request.Prompt,
            Messages = ToMessages(request.Messages),
            Attributes = ToAttributes(request.Attributes),
            MinSimilarity = request.HasMinSimilarity ? request.MinSimilarity : null,
            TopK = (int)Math.Min(request.TopK, int.MaxValue),
            Vector = ToArray(request.Vector),
            ExactOnly = request.ExactOnly,
        }, context.CancellationToken)).ConfigureAwait(false);

        var response = new GetResponse
        {
            Hit = result.Hit,
            Semantic = result.Semantic switch
            {
                Cache.SemanticLayer.Searched => ProtoSemanticLayer.Searched,
                Cache.SemanticLayer.SkippedExactHit => ProtoSemanticLayer.SkippedExactHit,
                Cache.SemanticLayer.SkippedExactOnly => ProtoSemanticLayer.SkippedExactOnly,
                Cache.SemanticLayer.SkippedTruncated => ProtoSemanticLayer.SkippedTruncated,
                _ => ProtoSemanticLayer.SkippedEmpty,
            },
            PromptTruncated = result.PromptTruncated,
        };
        if (result.BestSimilarity is float best)
        {
            response.BestSimilarity = best;
        }

        foreach (CacheMatch match in result.Matches)
        {
            var m = new Match
            {
                Id = match.Id,
                Prompt = match.Prompt,
                Response = match.Response,
                Similarity = match.Similarity,
                Exact = match.Exact,
                CreatedUnixMs = match.CreatedUnixMs,
                ExpiresUnixMs = match.ExpiresUnixMs,
                Usage = new Usage { Model = match.Usage.Model, InputTokens = (uint)match.Usage.InputTokens, OutputTokens = (uint)match.Usage.OutputTokens },
            };
            foreach ((string key, string value) in match.Attributes)
            {
                m.Attributes[key] = value;
            }

            response.Matches.Add(m);
        }

        return response;
    }

    public virtual async Task<SetResponse> Set(SetRequest request, ServerCallContext context)
    {
        CacheSetResult result = await Run(() => Engine.SetAsync(ToSet(request), context.CancellationToken)).ConfigureAwait(false);
        return ToResponse(result);
    }

    public virtual async Task<SetManyResponse> SetMany(SetManyRequest request, ServerCallContext context)
    {
        var requests = new CacheSetRequest[request.Entries.Count];
        for (int i = 0; i < requests.Length; i++)
        {
            requests[i] = ToSet(request.Entries[i]);
        }

        IReadOnlyList<CacheSetResult> results = await Run(() => Engine.SetManyAsync(requests, context.CancellationToken)).ConfigureAwait(false);
        var response = new SetManyResponse();
        foreach (CacheSetResult result in results)
        {
            response.Results.Add(ToResponse(result));
        }

        return response;
    }

    public virtual async Task<DeleteResponse> Delete(DeleteRequest request, ServerCallContext context)
    {
        long deleted = await Run(() => Engine.DeleteAsync(new CacheDeleteRequest
        {
            Namespace = request.Namespace,
            Id = request.Id,
            Attributes = ToAttributes(request.Attributes),
            Messages = ToMessages(request.Messages),
            EntireNamespace = request.EntireNamespace,
        }, context.CancellationToken)).ConfigureAwait(false);
        return new DeleteResponse { Deleted = (ulong)deleted };
    }

    public virtual Task<StatsResponse> Stats(StatsRequest request, ServerCallContext context)
    {
        CacheStatistics stats;
        try
        {
            stats = Engine.GetStatistics(request.Namespace);
        }
        catch (CacheRequestException e)
        {
            throw ToRpcException(e);
        }

        return Task.FromResult(new StatsResponse
        {
            Entries = (ulong)stats.Entries,
            Gets = (ulong)stats.Gets,
            ExactHits = (ulong)stats.ExactHits,
            SemanticHits = (ulong)stats.SemanticHits,
            Misses = (ulong)stats.Misses,
            HitRate = stats.HitRate,
            Sets = (ulong)stats.Sets,
            Evictions = (ulong)stats.Evictions,
            Expirations = (ulong)stats.Expirations,
            TokensSaved = (ulong)stats.TokensSaved,
            CostSavedUsd = stats.CostSavedUsd,
            UnpricedTokens = (ulong)stats.UnpricedTokens,
        });
    }

    public virtual async Task<EmbedResponse> Embed(EmbedRequest request, ServerCallContext context)
    {
        if (request.Texts.Count == 0)
        {
            throw ToRpcException(new CacheRequestException(CacheErrorKind.InvalidArgument, "texts", "at least one text is required."));
        }

        if (request.Texts.Count > _options.MaxEmbedTexts)
        {
            throw ToRpcException(new CacheRequestException(CacheErrorKind.ResourceExhausted, "texts", $"{request.Texts.Count} texts exceed the limit of {_options.MaxEmbedTexts} per call (Server:MaxEmbedTexts)."));
        }

        for (int i = 0; i < request.Texts.Count; i++)
        {
            if (request.Texts[i].Length > _options.MaxTextChars)
            {
                throw ToRpcException(new CacheRequestException(CacheErrorKind.ResourceExhausted, $"texts[{i}]", $"{request.Texts[i].Length} characters exceed the limit of {_options.MaxTextChars} (Server:MaxTextChars)."));
            }
        }

        EmbeddingResult[] results = await embedder.EmbedManyAsync(request.Texts, context.CancellationToken).ConfigureAwait(false);
        var response = new EmbedResponse { Model = embedder.ModelName };
        foreach (EmbeddingResult result in results)
        {
            var vector = new Vector();
            vector.Values.AddRange(result.Vector);
            response.Vectors.Add(vector);
            response.Truncated.Add(result.Truncated);
        }

        return response;
    }

    private static CacheSetRequest ToSet(SetRequest request) => new()
    {
        Namespace = request.Namespace,
        Prompt = request.Prompt,
        Messages = ToMessages(request.Messages),
        Attributes = ToAttributes(request.Attributes),
        Response = request.Response,
        TtlSeconds = request.TtlSeconds,
        UsageModel = request.Usage?.Model ?? "",
        InputTokens = request.Usage?.InputTokens ?? 0,
        OutputTokens = request.Usage?.OutputTokens ?? 0,
        Vector = ToArray(request.Vector),
    };

    private static SetResponse ToResponse(CacheSetResult result) => new()
    {
        Id = result.Id,
        Replaced = result.Replaced,
        SemanticallyIndexed = result.SemanticallyIndexed,
        ExpiresUnixMs = result.ExpiresUnixMs,
    };

    private static Cache.ChatMessage[] ToMessages(RepeatedField<ProtoChatMessage> messages)
    {
        if (messages.Count == 0)
        {
            return [];
        }

        var result = new Cache.ChatMessage[messages.Count];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = new Cache.ChatMessage(messages[i].Role, messages[i].Content);
        }

        return result;
    }

    private static KeyValuePair<string, string>[] ToAttributes(MapField<string, string> attributes) =>
        attributes.Count == 0 ? [] : [.. attributes];

    private static float[] ToArray(RepeatedField<float> values) => values.Count == 0 ? [] : [.. values];

    private static async Task<T> Run<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (CacheRequestException e)
        {
            throw ToRpcException(e);
        }
    }

    /// <summary>The engine's rejection as a rich gRPC status: the code, a message, and a BadRequest naming the field.</summary>
    internal static RpcException ToRpcException(CacheRequestException e) =>
        RequestErrors.ToRpcException(
            e.Kind switch
            {
                CacheErrorKind.ResourceExhausted => StatusCode.ResourceExhausted,
                CacheErrorKind.FailedPrecondition => StatusCode.FailedPrecondition,
                CacheErrorKind.Unavailable => StatusCode.Unavailable,
                _ => StatusCode.InvalidArgument,
            },
            e.Field,
            e.Reason);
}
