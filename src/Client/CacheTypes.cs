namespace SemCache.Client;

/// <summary>One message of a conversation: its author (<c>system</c>, <c>user</c>, <c>assistant</c>, …) and its text.</summary>
/// <param name="Role">The author, compared exactly.</param>
/// <param name="Content">The text.</param>
public sealed record CacheMessage(string Role, string Content);

/// <summary>The model call that produced a response: what a hit on it saves.</summary>
/// <param name="Model">The model's name, priced by the server's <c>Cache:ModelPrices</c>.</param>
/// <param name="InputTokens">Prompt tokens.</param>
/// <param name="OutputTokens">Completion tokens.</param>
public sealed record CacheUsage(string Model, int InputTokens, int OutputTokens);

/// <summary>
/// A lookup: a <see cref="Prompt"/>, or a conversation in <see cref="Messages"/> (its last message the user's, matched; the
/// ones before it the context, which must equal the stored entry's).
/// </summary>
public sealed record CacheQuery
{
    /// <summary>The prompt; give it or <see cref="Messages"/>.</summary>
    public string? Prompt { get; init; }

    /// <summary>A conversation instead of a prompt.</summary>
    public IReadOnlyList<CacheMessage>? Messages { get; init; }

    /// <summary>The partition's attributes (model, temperature, a hash of the tools, …), equal to the stored entry's.</summary>
    public IReadOnlyDictionary<string, string>? Attributes { get; init; }

    /// <summary>The namespace; null for the client's <see cref="SemCacheClientOptions.Namespace"/>.</summary>
    public string? Namespace { get; init; }

    /// <summary>The similarity a semantic hit needs, in [-1, 1]; null for the server's default.</summary>
    public float? MinSimilarity { get; init; }

    /// <summary>Matches wanted, best first; 0 means 1.</summary>
    public int TopK { get; init; }

    /// <summary>Exact hits only (no model run on the server).</summary>
    public bool ExactOnly { get; init; }
}

/// <summary>One cached entry a lookup found.</summary>
/// <param name="Id">The entry's id.</param>
/// <param name="Prompt">The prompt it was stored with, normalised.</param>
/// <param name="Response">The cached response.</param>
/// <param name="Similarity">Cosine similarity to the query; 1 for an exact hit.</param>
/// <param name="Exact">The same normalised prompt in the same partition.</param>
/// <param name="Usage">The model call that produced the response, if it was stored with one.</param>
/// <param name="ExpiresAt">When the entry expires.</param>
public sealed record CacheHit(string Id, string Prompt, string Response, float Similarity, bool Exact, CacheUsage? Usage, DateTimeOffset ExpiresAt);

/// <summary>The answer to a lookup: its matches, or a miss; a miss because the cache could not be asked is <see cref="Failed"/>.</summary>
public sealed record CacheLookup
{
    /// <summary>The matches, best first (an exact hit first); empty on a miss.</summary>
    public IReadOnlyList<CacheHit> Matches { get; init; } = [];

    /// <summary>The best match, or null on a miss.</summary>
    public CacheHit? Best => Matches.Count > 0 ? Matches[0] : null;

    /// <summary>At least one match.</summary>
    public bool IsHit => Matches.Count > 0;

    /// <summary>The nearest entry's similarity, even on a miss; null when nothing was compared.</summary>
    public float? BestSimilarity { get; init; }

    /// <summary>The prompt was longer than the model's window and was matched exactly only.</summary>
    public bool PromptTruncated { get; init; }

    /// <summary>The cache was down, slow or answered an error (only when failing open): treat as a miss.</summary>
    public bool Failed => Error is not null;

    /// <summary>Why the cache could not be asked, when <see cref="Failed"/>.</summary>
    public SemCacheException? Error { get; init; }
}

/// <summary>A response to store under its prompt or conversation.</summary>
public sealed record CacheEntry
{
    /// <summary>The prompt (the exact key); give it or <see cref="Messages"/>.</summary>
    public string? Prompt { get; init; }

    /// <summary>A conversation instead of a prompt, as in <see cref="CacheQuery.Messages"/>.</summary>
    public IReadOnlyList<CacheMessage>? Messages { get; init; }

    /// <summary>The response to cache.</summary>
    public required string Response { get; init; }

    /// <summary>The partition's attributes, as in <see cref="CacheQuery.Attributes"/>.</summary>
    public IReadOnlyDictionary<string, string>? Attributes { get; init; }

    /// <summary>The namespace; null for the client's.</summary>
    public string? Namespace { get; init; }

    /// <summary>Time to live, whole seconds; null for the server's default.</summary>
    public TimeSpan? Ttl { get; init; }

    /// <summary>The model call that produced the response (counted as saved on every hit).</summary>
    public CacheUsage? Usage { get; init; }
}

/// <summary>The outcome of storing an entry; <see cref="Failed"/> when the cache could not be reached (failing open).</summary>
public sealed record CacheStored
{
    /// <summary>The new entry's id; empty when <see cref="Failed"/>.</summary>
    public string Id { get; init; } = "";

    /// <summary>An entry with the same exact key was replaced.</summary>
    public bool Replaced { get; init; }

    /// <summary>The entry can be found by meaning (false for a prompt longer than the model's window).</summary>
    public bool SemanticallyIndexed { get; init; }

    /// <summary>The cache was down, slow or answered an error: nothing was stored.</summary>
    public bool Failed => Error is not null;

    /// <summary>Why nothing was stored, when <see cref="Failed"/>.</summary>
    public SemCacheException? Error { get; init; }
}

/// <summary>Counters of the whole cache or of one namespace since the server started.</summary>
/// <param name="Entries">Entries stored now.</param>
/// <param name="Gets">Lookups served.</param>
/// <param name="ExactHits">Lookups answered by the exact layer.</param>
/// <param name="SemanticHits">Lookups answered by the semantic layer.</param>
/// <param name="Misses">Lookups with no match.</param>
/// <param name="HitRate">Hits over lookups.</param>
/// <param name="Sets">Entries stored.</param>
/// <param name="TokensSaved">Tokens of the model calls that hits made unnecessary.</param>
/// <param name="CostSavedUsd">What those tokens would have cost, in US dollars, at the server's price table.</param>
/// <param name="UnpricedTokens">Of <paramref name="TokensSaved"/>, those of models the price table does not name (not in the cost).</param>
public sealed record CacheStatistics(
    long Entries, long Gets, long ExactHits, long SemanticHits, long Misses, double HitRate, long Sets, long TokensSaved, double CostSavedUsd,
    long UnpricedTokens);

/// <summary>Embeddings by the server's model, one per text.</summary>
/// <param name="Model">The model that produced them.</param>
/// <param name="Vectors">One vector per text, in order.</param>
public sealed record CacheEmbeddings(string Model, IReadOnlyList<float[]> Vectors);

/// <summary>A cache call that failed: the cache was unreachable, too slow, or answered an error.</summary>
public sealed class SemCacheException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SemCacheException()
    {
    }

    /// <summary>Creates the exception with its message.</summary>
    /// <param name="message">What failed.</param>
    public SemCacheException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its message and cause.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="innerException">The cause.</param>
    public SemCacheException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The gRPC status the call ended with (<c>DeadlineExceeded</c> for the client's own timeout).</summary>
    public Grpc.Core.StatusCode StatusCode { get; init; } = Grpc.Core.StatusCode.Unknown;
}
