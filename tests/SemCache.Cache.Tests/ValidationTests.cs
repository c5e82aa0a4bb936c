using SemCache.Embedding;

namespace SemCache.Cache.Tests;

/// <summary>Every rejected request names its field and its limit, and writes nothing.</summary>
public sealed class ValidationTests(EmbedderFixture fixture)
{
    private readonly TextEmbedder _embedder = fixture.Embedder;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // The last column is what the reason must say: the rule broken, or the limit and the option that sets it.
    public static TheoryData<string, CacheErrorKind, string, string> BadGets => new()
    {
        { "both", CacheErrorKind.InvalidArgument, "prompt", "not both" },
        { "neither", CacheErrorKind.InvalidArgument, "prompt", "give a prompt, messages or a vector" },
        { "nan-threshold", CacheErrorKind.InvalidArgument, "min_similarity", "NaN is outside [-1, 1]" },
        { "threshold-above-one", CacheErrorKind.InvalidArgument, "min_similarity", "1.5 is outside [-1, 1]" },
        { "namespace", CacheErrorKind.InvalidArgument, "namespace", "1 to 64 characters from [A-Za-z0-9._-]" },
        { "long-namespace", CacheErrorKind.InvalidArgument, "namespace", "1 to 64 characters" },
        { "assistant-last", CacheErrorKind.InvalidArgument, "messages[1].role", "must be the user's" },
        { "infinite-vector", CacheErrorKind.InvalidArgument, "vector[1]", "not a finite number" },
        { "top-k", CacheErrorKind.InvalidArgument, "top_k", "101 is outside [0, 100] (Cache:MaxTopK" },
        { "long-prompt", CacheErrorKind.ResourceExhausted, "prompt", "131073 characters exceed the limit of 131072 (Cache:MaxPromptChars)" },
        { "many-attributes", CacheErrorKind.ResourceExhausted, "attributes", "33 attributes exceed the limit of 32 (Cache:MaxAttributes)" },
        { "many-messages", CacheErrorKind.ResourceExhausted, "messages", "257 messages exceed the limit of 256 (Cache:MaxMessages)" },
    };

    [Theory]
    [MemberData(nameof(BadGets))]
    public async Task BadLookupsAreRejectedByField(string bad, CacheErrorKind kind, string field, string reason)
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheGetRequest request = bad switch
        {
            "both" => new() { Prompt = "p", Messages = [new("user", "p")] },
            "neither" => new(),
            "nan-threshold" => new() { Prompt = "p", MinSimilarity = float.NaN },
            "threshold-above-one" => new() { Prompt = "p", MinSimilarity = 1.5f },
            "namespace" => new() { Namespace = "bad namespace!", Prompt = "p" },
            "long-namespace" => new() { Namespace = new string('n', 65), Prompt = "p" },
            "assistant-last" => new() { Messages = [new("user", "q"), new("assistant", "a")] },
            "infinite-vector" => new() { Vector = new float[] { 1, float.PositiveInfinity } },
            "top-k" => new() { Prompt = "p", TopK = 101 },
            "long-prompt" => new() { Prompt = new string('x', (128 * 1024) + 1) },
            "many-attributes" => new() { Prompt = "p", Attributes = Enumerable.Range(0, 33).Select(i => new KeyValuePair<string, string>($"k{i}", "v")).ToArray() },
            "many-messages" => new() { Messages = Enumerable.Range(0, 257).Select(_ => new ChatMessage("user", "m")).ToArray() },
            _ => throw new ArgumentOutOfRangeException(nameof(bad)),
        };
        CacheRequestException e = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.GetAsync(request, Ct));
        Assert.Equal(kind, e.Kind);
        Assert.Equal(field, e.Field);
        Assert.Contains(reason, e.Reason, StringComparison.Ordinal);

        // A rejected lookup is not a lookup: it is counted nowhere.
        Assert.Equal(0, cache.Engine.GetStatistics().Gets);
        Assert.Equal(0, cache.Engine.GetStatistics().Misses);
    }

    [Theory]
    [InlineData("top-k-100")]
    [InlineData("threshold-one")]
    [InlineData("threshold-minus-one")]
    [InlineData("namespace-64")]
    [InlineData("prompt-131072")]
    [InlineData("attributes-32")]
    [InlineData("messages-256")]
    public async Task LookupsAtEveryLimitAreAccepted(string edge)
    {
        // The rejections above are one past each limit; the limit itself must still be served.
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheGetRequest request = edge switch
        {
            "top-k-100" => new() { Prompt = "p", TopK = 100 },
            "threshold-one" => new() { Prompt = "p", MinSimilarity = 1f },
            "threshold-minus-one" => new() { Prompt = "p", MinSimilarity = -1f },
            "namespace-64" => new() { Namespace = new string('n', 64), Prompt = "p" },
            "prompt-131072" => new() { Prompt = new string('x', 128 * 1024) },
            "attributes-32" => new() { Prompt = "p", Attributes = Enumerable.Range(0, 32).Select(i => new KeyValuePair<string, string>($"k{i}", "v")).ToArray() },
            "messages-256" => new() { Messages = Enumerable.Range(0, 256).Select(_ => new ChatMessage("user", "m")).ToArray() },
            _ => throw new ArgumentOutOfRangeException(nameof(edge)),
        };
        CacheGetResult result = await cache.Engine.GetAsync(request, Ct);
        Assert.False(result.Hit);
        Assert.Equal(1, cache.Engine.GetStatistics().Gets);
    }

    [Theory]
    [InlineData("ttl-30-days")]
    [InlineData("attribute-key-128")]
    [InlineData("attribute-value-1024")]
    public async Task SetsAtEveryLimitAreAccepted(string edge)
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheSetRequest request = edge switch
        {
            "ttl-30-days" => new() { Prompt = "p", Response = "r", TtlSeconds = (uint)TimeSpan.FromDays(30).TotalSeconds },
            "attribute-key-128" => new() { Prompt = "p", Response = "r", Attributes = [new(new string('k', 128), "v")] },
            "attribute-value-1024" => new() { Prompt = "p", Response = "r", Attributes = [new("k", new string('v', 1024))] },
            _ => throw new ArgumentOutOfRangeException(nameof(edge)),
        };
        await cache.Engine.SetAsync(request, Ct);
        Assert.Equal(1, cache.Engine.GetStatistics().Entries);
    }

    public static TheoryData<string, CacheErrorKind, string, string> BadSets => new()
    {
        { "no-response", CacheErrorKind.InvalidArgument, "response", "needs a response" },
        { "vector-only", CacheErrorKind.InvalidArgument, "prompt", "needs a prompt or messages" },
        { "ttl", CacheErrorKind.InvalidArgument, "ttl_seconds", $"{uint.MaxValue} s is above the maximum of" },
        { "long-response", CacheErrorKind.ResourceExhausted, "response", "262145 characters exceed the limit of 262144 (Cache:MaxResponseChars)" },
        { "long-attribute", CacheErrorKind.ResourceExhausted, "attributes[k]", "1025 characters exceed the limit of 1024 (Cache:MaxAttributeValueChars)" },
    };

    [Theory]
    [MemberData(nameof(BadSets))]
    public async Task ARejectedSetWritesNothing(string bad, CacheErrorKind kind, string field, string reason)
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheSetRequest request = bad switch
        {
            "no-response" => new() { Prompt = "p" },
            "vector-only" => new() { Response = "r", Vector = new float[] { 1, 0 } },
            "ttl" => new() { Prompt = "p", Response = "r", TtlSeconds = uint.MaxValue },
            "long-response" => new() { Prompt = "p", Response = new string('r', (256 * 1024) + 1) },
            "long-attribute" => new() { Prompt = "p", Response = "r", Attributes = [new("k", new string('v', 1025))] },
            _ => throw new ArgumentOutOfRangeException(nameof(bad)),
        };
        CacheRequestException e = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.SetAsync(request, Ct));
        Assert.Equal(kind, e.Kind);
        Assert.Equal(field, e.Field);
        Assert.Contains(reason, e.Reason, StringComparison.Ordinal);
        Assert.Equal(0, cache.Engine.GetStatistics().Entries);
        Assert.Equal(0, cache.Engine.GetStatistics().Sets);
    }

    [Fact]
    public async Task OneBadEntryRejectsTheWholeSetMany()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheRequestException e = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.SetManyAsync(
            [new CacheSetRequest { Prompt = "fine", Response = "r" }, new CacheSetRequest { Prompt = "no response" }], Ct));
        Assert.Equal(CacheErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("entries[1].response", e.Field);
        Assert.Equal(0, cache.Engine.GetStatistics().Entries);
        Assert.Equal(0, cache.Engine.GetStatistics().Sets);
        Assert.False((await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "fine", ExactOnly = true }, Ct)).Hit);
    }

    // {0} is the id of a stored entry: a lenient parse of "+{0}" or " {0}" would delete it.
    [Theory]
    [InlineData("abc")]
    [InlineData("+{0}")]
    [InlineData(" {0}")]
    [InlineData("{0} ")]
    [InlineData("-{0}")]
    [InlineData("{0}.0")]
    [InlineData("1e3")]
    [InlineData("18446744073709551616")] // ulong.MaxValue + 1
    public async Task AnIdThatIsNotADecimalNumberIsInvalid(string pattern)
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheSetResult stored = await cache.Engine.SetAsync(new CacheSetRequest { Prompt = "kept", Response = "r" }, Ct);
        string id = string.Format(System.Globalization.CultureInfo.InvariantCulture, pattern, stored.Id);
        CacheRequestException e = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.DeleteAsync(new CacheDeleteRequest { Id = id }, Ct));
        Assert.Equal(CacheErrorKind.InvalidArgument, e.Kind);
        Assert.Equal("id", e.Field);
        Assert.Equal(1, cache.Engine.GetStatistics().Entries);
    }
}
