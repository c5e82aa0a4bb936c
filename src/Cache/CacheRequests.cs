namespace SemCache.Cache;

/// <summary>A lookup: the exact layer, then (unless <see cref="ExactOnly"/>) the semantic layer.</summary>
public sealed class CacheGetRequest
{
    /// <summary>Namespace; empty means <c>default</c>.</summary>
    public string Namespace { get; init; } = "";

    /// <summary>The prompt (or null when <see cref="Messages"/> or only <see cref="Vector"/> is given).</summary>
    public string? Prompt { get; init; }

    /// <summary>A conversation: the last message must be the user's; everything before it is the context.</summary>
    public IReadOnlyList<ChatMessage> Messages { get; init; } = [];

    /// <summary>The exact attribute map of the partition.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Attributes { get; init; } = [];

    /// <summary>Similarity a semantic hit needs; null means <see cref="CacheOptions.DefaultThreshold"/>.</summary>
    public float? MinSimilarity { get; init; }

    /// <summary>Matches wanted; 0 means 1.</summary>
    public int TopK { get; init; }

    /// <summary>The caller's own embedding of the prompt, used instead of the model's.</summary>
    public ReadOnlyMemory<float> Vector { get; init; }

    /// <summary>Skip the semantic layer.</summary>
    public bool ExactOnly { get; init; }
}

/// <summary>One cached entry returned by a lookup.</summary>
/// <param name="Id">Its identifier.</param>
/// <param name="Prompt">The prompt it was stored with (normalised).</param>
/// <param name="Response">The cached response.</param>
/// <param name="Similarity">Cosine similarity to the request (1 for an exact hit).</param>
/// <param name="Exact">True for an exact hit.</param>
/// <param name="Attributes">Its attributes.</param>
/// <param name="CreatedUnixMs">When it was stored.</param>
/// <param name="ExpiresUnixMs">When it expires.</param>
/// <param name="Usage">Model and token counts of the call that produced the response (what a hit saves).</param>
public sealed record CacheMatch(string Id, string Prompt, string Response, float Similarity, bool Exact, IReadOnlyList<KeyValuePair<string, string>> Attributes, long CreatedUnixMs, long ExpiresUnixMs, SemCache.Storage.TokenUsage Usage);

/// <summary>What the semantic layer did for a lookup.</summary>
public enum SemanticLayer
{
    /// <summary>It searched the partition.</summary>
    Searched,

    /// <summary>Not needed: an exact hit filled <c>top_k</c>.</summary>
    SkippedExactHit,

    /// <summary>The request asked for exact matches only.</summary>
    SkippedExactOnly,

    /// <summary>The prompt is longer than the model's window; it is matched exactly only.</summary>
    SkippedTruncated,

    /// <summary>The partition holds no vectors yet.</summary>
    SkippedEmpty,
}

/// <summary>The answer to a lookup.</summary>
/// <param name="Matches">Up to <c>top_k</c> hits, best first.</param>
/// <param name="BestSimilarity">The nearest entry's similarity, hit or not; null when nothing was compared.</param>
/// <param name="Semantic">What the semantic layer did.</param>
/// <param name="PromptTruncated">The prompt was longer than the model's window.</param>
public sealed record CacheGetResult(IReadOnlyList<CacheMatch> Matches, float? BestSimilarity, SemanticLayer Semantic, bool PromptTruncated)
{
    /// <summary>At least one match.</summary>
    public bool Hit => Matches.Count > 0;
}

/// <summary>A store of one response.</summary>
public sealed class CacheSetRequest
{
    /// <summary>Namespace; empty means <c>default</c>.</summary>
    public string Namespace { get; init; } = "";

    /// <summary>The prompt, or null when <see cref="Messages"/> is given.</summary>
    public string? Prompt { get; init; }

    /// <summary>A conversation: the last message must be the user's; everything before it is the context.</summary>
    public IReadOnlyList<ChatMessage> Messages { get; init; } = [];

    /// <summary>The exact attribute map of the partition.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Attributes { get; init; } = [];

    /// <summary>The response to cache.</summary>
    public string Response { get; init; } = "";

    /// <summary>Time to live in seconds; 0 means the store's default.</summary>
    public uint TtlSeconds { get; init; }

    /// <summary>Model and token counts of the call that produced the response.</summary>
    public string UsageModel { get; init; } = "";

    /// <summary>Prompt tokens of that call.</summary>
    public uint InputTokens { get; init; }

    /// <summary>Completion tokens of that call.</summary>
    public uint OutputTokens { get; init; }

    /// <summary>The caller's own embedding of the prompt, used instead of the model's.</summary>
    public ReadOnlyMemory<float> Vector { get; init; }
}

/// <summary>The outcome of a store.</summary>
/// <param name="Id">The new entry's identifier.</param>
/// <param name="Replaced">An entry with the same exact key was replaced.</param>
/// <param name="SemanticallyIndexed">The entry can be found by meaning (false for a truncated prompt: exact only).</param>
/// <param name="ExpiresUnixMs">When it expires.</param>
public sealed record CacheSetResult(string Id, bool Replaced, bool SemanticallyIndexed, long ExpiresUnixMs);

/// <summary>A deletion: one entry, one partition, or a whole namespace.</summary>
public sealed class CacheDeleteRequest
{
    /// <summary>Namespace; empty means <c>default</c>.</summary>
    public string Namespace { get; init; } = "";

    /// <summary>One entry's identifier; when empty the partition given by the attributes and messages is deleted.</summary>
    public string Id { get; init; } = "";

    /// <summary>The partition's attribute map.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Attributes { get; init; } = [];

    /// <summary>The partition's conversation (as in a Get: context = everything before the last user message).</summary>
    public IReadOnlyList<ChatMessage> Messages { get; init; } = [];

    /// <summary>Delete everything in the namespace.</summary>
    public bool EntireNamespace { get; init; }
}

/// <summary>Counters of the cache or of one namespace.</summary>
public sealed record CacheStatistics(
    long Entries,
    long Gets,
    long ExactHits,
    long SemanticHits,
    long Misses,
    long Sets,
    long Evictions,
    long Expirations,
    long TokensSaved,
    double CostSavedUsd)
{
    /// <summary>Hits over lookups (0 before the first lookup).</summary>
    public double HitRate => Gets == 0 ? 0 : (double)(ExactHits + SemanticHits) / Gets;

    /// <summary>
    /// Of <see cref="TokensSaved"/>, those whose model has no price in <see cref="CacheOptions.ModelPrices"/> (or whose
    /// Set named no model): <see cref="CostSavedUsd"/> leaves them out.
    /// </summary>
    public long UnpricedTokens { get; init; }
}
