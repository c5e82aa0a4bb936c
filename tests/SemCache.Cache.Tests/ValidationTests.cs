using SemCache.Embedding;

namespace SemCache.Cache.Tests;

/// <summary>Every rejected request names its field and its limit, and writes nothing.</summary>
public sealed class ValidationTests(EmbedderFixture fixture)
{
    private readonly TextEmbedder _embedder = fixture.Embedder;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string, CacheErrorKind, string> BadGets => new()
    {
        { "both", CacheErrorKind.InvalidArgument, "prompt" },
        { "neither", CacheErrorKind.InvalidArgument, "prompt" },
        { "nan-threshold", CacheErrorKind.InvalidArgument, "min_similarity" },
        { "threshold-above-one", CacheErrorKind.InvalidArgument, "min_similarity" },
        { "namespace", CacheErrorKind.InvalidArgument, "namespace" },
        { "long-namespace", CacheErrorKind.InvalidArgument, "namespace" },
        { "assistant-last", CacheErrorKind.InvalidArgument, "messages[1].role" },
        { "infinite-vector", CacheErrorKind.InvalidArgument, "vector[1]" },
        { "top-k", CacheErrorKind.InvalidArgument, "top_k" },
        { "long-prompt", CacheErrorKind.ResourceExhausted, "prompt" },
        { "many-attributes", CacheErrorKind.ResourceExhausted, "attributes" },
        { "many-messages", CacheErrorKind.ResourceExhausted, "messages" },
    };

    [Theory]
    [MemberData(nameof(BadGets))]
    public async Task BadLookupsAreRejectedByField(string bad, CacheErrorKind kind, string field)
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
    }

    public static TheoryData<string, CacheErrorKind, string> BadSets => new()
    {
        { "no-response", CacheErrorKind.InvalidArgument, "response" },
        { "vector-only", CacheErrorKind.InvalidArgument, "prompt" },
        { "ttl", CacheErrorKind.InvalidArgument, "ttl_seconds" },
        { "long-response", CacheErrorKind.ResourceExhausted, "response" },
        { "long-attribute", CacheErrorKind.ResourceExhausted, "attributes[k]" },
    };

    [Theory]
    [MemberData(nameof(BadSets))]
    public async Task ARejectedSetWritesNothing(string bad, CacheErrorKind kind, string field)
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
        Assert.Equal(0, cache.Engine.GetStatistics().Entries);
        Assert.Equal(0, cache.Engine.GetStatistics().Sets);
    }

    [Fact]
    public async Task OneBadEntryRejectsTheWholeSetMany()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheRequestException e = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.SetManyAsync(
            [new CacheSetRequest { Prompt = "fine", Response = "r" }, new CacheSetRequest { Prompt = "no response" }], Ct));
        Assert.Equal("entries[1].response", e.Field);
        Assert.Equal(0, cache.Engine.GetStatistics().Entries);
    }

    [Fact]
    public async Task AnIdThatIsNotANumberIsInvalid()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheRequestException e = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.DeleteAsync(new CacheDeleteRequest { Id = "abc" }, Ct));
        Assert.Equal("id", e.Field);
    }
}
