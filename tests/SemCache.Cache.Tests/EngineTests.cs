using SemCache.Embedding;

namespace SemCache.Cache.Tests;

public sealed class EngineTests(EmbedderFixture fixture)
{
    private readonly TextEmbedder _embedder = fixture.Embedder;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static CacheSetRequest Set(string prompt, string response, string ns = "", params KeyValuePair<string, string>[] attributes) =>
        new() { Namespace = ns, Prompt = prompt, Response = response, Attributes = attributes };

    private static CacheGetRequest Get(string prompt, string ns = "", params KeyValuePair<string, string>[] attributes) =>
        new() { Namespace = ns, Prompt = prompt, Attributes = attributes };

    [Fact]
    public async Task TheSameNormalisedPromptIsAnExactHitWithoutRunningTheModel()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        // Stored with its vector (embedded off the batcher's count): had the Set embedded the prompt, the engine's
        // recent-embeddings memory would answer a Get that runs the model anyway, and the count below could not move.
        CacheSetResult stored = await cache.Engine.SetAsync(new CacheSetRequest { Prompt = "What is the capital of France?", Response = "Paris.", Vector = _embedder.Embed("What is the capital of France?").Vector }, Ct);
        long embedded = _embedder.BatchedTextCount;

        CacheGetResult result = await cache.Engine.GetAsync(Get("  What is\tthe capital   of France?\n"), Ct);

        Assert.True(result.Hit);
        CacheMatch match = Assert.Single(result.Matches);
        Assert.True(match.Exact);
        Assert.Equal(1f, match.Similarity);
        Assert.Equal("Paris.", match.Response);
        Assert.Equal(stored.Id, match.Id);
        Assert.Equal(SemanticLayer.SkippedExactHit, result.Semantic);
        Assert.Equal(embedded, _embedder.BatchedTextCount);
    }

    [Fact]
    public async Task CaseIsKeptInTheExactKey()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        await cache.Engine.SetAsync(Set("WRITE A HAIKU", "IN CAPITALS"), Ct);
        Assert.True((await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "WRITE  A HAIKU", ExactOnly = true }, Ct)).Hit);
        CacheGetResult result = await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "write a haiku", ExactOnly = true }, Ct);
        Assert.False(result.Hit);
    }

    [Fact]
    public async Task AParaphraseIsASemanticHitAndAnUnrelatedPromptAMissWithItsBestSimilarity()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        await cache.Engine.SetAsync(Set("How do I reset my password?", "Use the 'Forgot password' link."), Ct);

        CacheGetResult hit = await cache.Engine.GetAsync(Get("How can I reset my password?"), Ct);
        Assert.True(hit.Hit);
        Assert.False(hit.Matches[0].Exact);
        Assert.True(hit.Matches[0].Similarity >= 0.9f, $"similarity {hit.Matches[0].Similarity}");
        Assert.Equal(hit.Matches[0].Similarity, hit.BestSimilarity);

        CacheGetResult miss = await cache.Engine.GetAsync(Get("What is the boiling point of water?"), Ct);
        Assert.False(miss.Hit);
        Assert.NotNull(miss.BestSimilarity);
        Assert.True(miss.BestSimilarity < 0.5f);
        Assert.Equal(SemanticLayer.Searched, miss.Semantic);
    }

    [Fact]
    public async Task AnEmptyPartitionHasNoBestSimilarity()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheGetResult result = await cache.Engine.GetAsync(Get("anything at all"), Ct);
        Assert.False(result.Hit);
        Assert.Empty(result.Matches);
        Assert.Null(result.BestSimilarity);
        Assert.Equal(SemanticLayer.SkippedEmpty, result.Semantic);
    }

    [Fact]
    public async Task EntriesNeverCrossNamespacesOrAttributeMaps()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        KeyValuePair<string, string> gpt4 = new("model", "gpt-4o"), hot = new("temperature", "0.9"), cold = new("temperature", "0");
        await cache.Engine.SetAsync(Set("Tell me a joke about cats", "A cat joke.", "tenant-a", gpt4, cold), Ct);

        Assert.True((await cache.Engine.GetAsync(Get("Tell me a joke about cats", "tenant-a", cold, gpt4), Ct)).Hit); // order does not matter
        Assert.False((await cache.Engine.GetAsync(Get("Tell me a joke about cats", "tenant-b", gpt4, cold), Ct)).Hit);
        Assert.False((await cache.Engine.GetAsync(Get("Tell me a joke about cats", "tenant-a", gpt4, hot), Ct)).Hit);
        Assert.False((await cache.Engine.GetAsync(Get("Tell me a joke about cats", "tenant-a", gpt4), Ct)).Hit); // subset
        Assert.False((await cache.Engine.GetAsync(Get("Tell me a joke about cats", "tenant-a"), Ct)).Hit);
        Assert.False((await cache.Engine.GetAsync(Get("Tell me a joke about cats"), Ct)).Hit); // default namespace
        CacheGetResult other = await cache.Engine.GetAsync(Get("Tell me a joke about cats", "tenant-b", gpt4, cold), Ct);
        Assert.Null(other.BestSimilarity);
    }

    [Fact]
    public async Task AFollowUpNeverHitsAnAnswerFromAnotherConversation()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        ChatMessage[] aboutParis = [new("system", "You are a travel guide."), new("user", "Describe Paris."), new("assistant", "Paris is..."), new("user", "and in French?")];
        ChatMessage[] aboutRome = [new("system", "You are a travel guide."), new("user", "Describe Rome."), new("assistant", "Rome is..."), new("user", "and in French?")];
        await cache.Engine.SetAsync(new CacheSetRequest { Messages = aboutParis, Response = "Paris est..." }, Ct);

        Assert.False((await cache.Engine.GetAsync(new CacheGetRequest { Messages = aboutRome }, Ct)).Hit);
        Assert.False((await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "and in French?" }, Ct)).Hit);
        ChatMessage[] otherSystem = [new("system", "You are a pirate."), .. aboutParis[1..]];
        Assert.False((await cache.Engine.GetAsync(new CacheGetRequest { Messages = otherSystem }, Ct)).Hit);

        CacheGetResult same = await cache.Engine.GetAsync(new CacheGetRequest { Messages = aboutParis }, Ct);
        Assert.True(same.Hit);
        Assert.True(same.Matches[0].Exact);
        CacheGetResult paraphrase = await cache.Engine.GetAsync(new CacheGetRequest { Messages = [.. aboutParis[..^1], new("user", "And in French?")] }, Ct);
        Assert.Equal("Paris est...", Assert.Single(paraphrase.Matches).Response);
    }

    [Fact]
    public async Task ASingleUserMessageIsThePlainPrompt()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        await cache.Engine.SetAsync(Set("What is 2 + 2?", "4"), Ct);
        CacheGetResult result = await cache.Engine.GetAsync(new CacheGetRequest { Messages = [new("user", "What is 2 + 2?")] }, Ct);
        Assert.True(result.Matches[0].Exact);
    }

    [Fact]
    public async Task TheThresholdAndTopKShapeTheMatches()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        await cache.Engine.SetManyAsync(
        [
            Set("How do I reset my password?", "A"),
            Set("How can I change my password?", "B"),
            Set("I forgot my password, what now?", "C"),
            Set("What is the weather in Oslo?", "D"),
        ], Ct);

        // No threshold and room for all: every entry once (the exact one first, not again as a semantic match), most similar first.
        CacheGetResult all = await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "How do I reset my password?", TopK = 10, MinSimilarity = -1 }, Ct);
        Assert.Equal(4, all.Matches.Count);
        Assert.Equal("A", all.Matches[0].Response);
        Assert.True(all.Matches[0].Exact);
        Assert.Equal(["B", "C"], all.Matches.Skip(1).Take(2).Select(m => m.Response).Order());
        Assert.Equal("D", all.Matches[3].Response);
        Assert.All(all.Matches.Skip(1), m => Assert.False(m.Exact));
        Assert.Equal(all.Matches.Select(m => m.Similarity).OrderDescending(), all.Matches.Select(m => m.Similarity));
        Assert.True(all.Matches[3].Similarity < 0.5f, $"the weather entry has similarity {all.Matches[3].Similarity}");

        // The threshold alone cuts the list (top_k would allow four).
        CacheGetResult aboveHalf = await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "How do I reset my password?", TopK = 4, MinSimilarity = 0.5f }, Ct);
        Assert.Equal(["A", "B", "C"], aboveHalf.Matches.Select(m => m.Response).Order());
        Assert.All(aboveHalf.Matches, m => Assert.True(m.Similarity >= 0.5f));

        // top_k alone cuts the list (the threshold would allow four).
        CacheGetResult three = await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "How do I reset my password?", TopK = 3, MinSimilarity = -1 }, Ct);
        Assert.Equal(all.Matches.Take(3).Select(m => m.Id), three.Matches.Select(m => m.Id));
        CacheGetResult two = await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "How do I reset my password?", TopK = 2, MinSimilarity = 0.5f }, Ct);
        Assert.Equal(all.Matches.Take(2).Select(m => m.Id), two.Matches.Select(m => m.Id));

        CacheGetResult strict = await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "How could I reset the password?", MinSimilarity = 0.999f }, Ct);
        Assert.False(strict.Hit);
        Assert.True(strict.BestSimilarity > 0.8f);

        CacheGetResult exactOnly = await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "How could I reset the password?", ExactOnly = true }, Ct);
        Assert.False(exactOnly.Hit);
        Assert.Equal(SemanticLayer.SkippedExactOnly, exactOnly.Semantic);
        Assert.Null(exactOnly.BestSimilarity);
    }

    [Fact]
    public async Task SetReplacesTheEntryWithTheSameExactKey()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheSetResult first = await cache.Engine.SetAsync(Set("Capital of Peru?", "Lima"), Ct);
        CacheSetResult second = await cache.Engine.SetAsync(Set("Capital of  Peru?", "Lima, Peru"), Ct);
        Assert.False(first.Replaced);
        Assert.True(second.Replaced);
        CacheGetResult result = await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "What's the capital of Peru?", TopK = 5, MinSimilarity = 0 }, Ct);
        CacheMatch match = Assert.Single(result.Matches);
        Assert.Equal("Lima, Peru", match.Response);
        Assert.Equal(1, cache.Engine.GetStatistics().Entries);
    }

    [Fact]
    public async Task AnExpiredEntryIsNeverReturned()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        await cache.Engine.SetAsync(new CacheSetRequest { Prompt = "Short-lived question", Response = "Short-lived answer", TtlSeconds = 60 }, Ct);
        Assert.True((await cache.Engine.GetAsync(Get("Short-lived question"), Ct)).Hit);
        // The reworded lookup below must be a semantic hit while the entry lives, or its miss after expiry proves nothing.
        CacheGetResult reworded = await cache.Engine.GetAsync(Get("A short-lived question"), Ct);
        Assert.True(reworded.Hit);
        Assert.False(reworded.Matches[0].Exact);
        cache.Clock.Advance(TimeSpan.FromSeconds(61));
        Assert.False((await cache.Engine.GetAsync(Get("Short-lived question"), Ct)).Hit);
        Assert.False((await cache.Engine.GetAsync(Get("A short-lived question"), Ct)).Hit);
    }

    [Fact]
    public async Task APromptLongerThanTheWindowMatchesExactlyOnly()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        string shared = string.Join(' ', Enumerable.Repeat("please summarise the following contract clause by clause", 40));
        CacheSetResult stored = await cache.Engine.SetAsync(Set(shared + " ending one", "summary one"), Ct);
        Assert.False(stored.SemanticallyIndexed);

        CacheGetResult other = await cache.Engine.GetAsync(Get(shared + " ending two"), Ct);
        Assert.False(other.Hit);
        Assert.True(other.PromptTruncated);
        Assert.Equal(SemanticLayer.SkippedTruncated, other.Semantic);

        Assert.True((await cache.Engine.GetAsync(Get(shared + " ending one"), Ct)).Matches[0].Exact);
    }

    [Fact]
    public async Task TruncatedPromptsMatchSemanticallyWhenTheOptionAllowsIt()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder, o => o.SemanticMatchOnTruncatedPrompts = true);
        string shared = string.Join(' ', Enumerable.Repeat("please summarise the following contract clause by clause", 40));
        Assert.True((await cache.Engine.SetAsync(Set(shared + " ending one", "summary one"), Ct)).SemanticallyIndexed);
        CacheGetResult other = await cache.Engine.GetAsync(Get(shared + " ending two"), Ct);
        Assert.True(other.Hit);
        Assert.True(other.PromptTruncated);
    }

    [Fact]
    public async Task CallerVectorsFixTheNamespaceDimension()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        float[] v = [1, 0, 0, 0];
        await cache.Engine.SetAsync(new CacheSetRequest { Namespace = "own", Prompt = "four dims", Response = "r", Vector = v }, Ct);
        CacheGetResult byVector = await cache.Engine.GetAsync(new CacheGetRequest { Namespace = "own", Vector = new float[] { 0.9f, 0.1f, 0, 0 } }, Ct);
        Assert.True(byVector.Hit);

        CacheRequestException wrong = await Assert.ThrowsAsync<CacheRequestException>(() =>
            cache.Engine.SetAsync(new CacheSetRequest { Namespace = "own", Prompt = "five dims", Response = "r", Vector = new float[] { 1, 0, 0, 0, 0 } }, Ct));
        Assert.Equal(CacheErrorKind.FailedPrecondition, wrong.Kind);
        Assert.Equal("vector", wrong.Field);

        CacheRequestException get = await Assert.ThrowsAsync<CacheRequestException>(() =>
            cache.Engine.GetAsync(new CacheGetRequest { Namespace = "own", Vector = new float[] { 1, 0 } }, Ct));
        Assert.Equal(CacheErrorKind.FailedPrecondition, get.Kind);
        Assert.Equal("vector", get.Field);

        // The model's 384-dimensional vectors do not fit either: a Set or a Get by prompt alone is refused, nothing
        // stored, and the Set is refused before the model runs for it.
        long embedded = _embedder.BatchedTextCount;
        CacheRequestException modelSet = await Assert.ThrowsAsync<CacheRequestException>(() =>
            cache.Engine.SetAsync(new CacheSetRequest { Namespace = "own", Prompt = "no vector given", Response = "r" }, Ct));
        Assert.Equal(CacheErrorKind.FailedPrecondition, modelSet.Kind);
        Assert.Equal("vector", modelSet.Field);
        Assert.Equal(embedded, _embedder.BatchedTextCount);
        CacheRequestException modelGet = await Assert.ThrowsAsync<CacheRequestException>(() =>
            cache.Engine.GetAsync(new CacheGetRequest { Namespace = "own", Prompt = "no vector given" }, Ct));
        Assert.Equal(CacheErrorKind.FailedPrecondition, modelGet.Kind);
        Assert.Equal(1, cache.Engine.GetStatistics("own").Entries);
    }

    [Fact]
    public async Task DeleteWorksByIdOnlyInsideTheNamespaceByPartitionAndByNamespace()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        KeyValuePair<string, string> a = new("model", "a"), b = new("model", "b");
        CacheSetResult one = await cache.Engine.SetAsync(Set("question one", "1", "ns1", a), Ct);
        await cache.Engine.SetAsync(Set("question two", "2", "ns1", a), Ct);
        await cache.Engine.SetAsync(Set("question three", "3", "ns1", b), Ct);
        await cache.Engine.SetAsync(Set("question four", "4", "ns2", a), Ct);

        Assert.Equal(0, await cache.Engine.DeleteAsync(new CacheDeleteRequest { Namespace = "ns2", Id = one.Id }, Ct));
        Assert.Equal(1, await cache.Engine.DeleteAsync(new CacheDeleteRequest { Namespace = "ns1", Id = one.Id }, Ct));
        Assert.False((await cache.Engine.GetAsync(Get("question one", "ns1", a), Ct)).Hit);

        Assert.Equal(1, await cache.Engine.DeleteAsync(new CacheDeleteRequest { Namespace = "ns1", Attributes = [a] }, Ct));
        Assert.False((await cache.Engine.GetAsync(Get("question two", "ns1", a), Ct)).Hit);
        Assert.True((await cache.Engine.GetAsync(Get("question three", "ns1", b), Ct)).Hit);
        Assert.True((await cache.Engine.GetAsync(Get("question four", "ns2", a), Ct)).Hit);

        Assert.Equal(1, await cache.Engine.DeleteAsync(new CacheDeleteRequest { Namespace = "ns1", EntireNamespace = true }, Ct));
        Assert.False((await cache.Engine.GetAsync(Get("question three", "ns1", b), Ct)).Hit);
        Assert.True((await cache.Engine.GetAsync(Get("question four", "ns2", a), Ct)).Hit);
    }

    [Fact]
    public async Task EverythingSurvivesARestart()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        await cache.Engine.SetManyAsync(Enumerable.Range(0, 40).Select(i => Set($"Question number {i} about topic {i * 7 % 13}", $"answer {i}")).ToArray(), Ct);
        await cache.Engine.SetAsync(Set("How do I reset my password?", "Use the link."), Ct);

        await cache.RestartAsync(_embedder);

        Assert.Equal("snapshot", cache.Engine.Recovery.IndexSource);
        Assert.Equal(41, cache.Engine.Recovery.IndexedVectors);
        Assert.True((await cache.Engine.GetAsync(Get("Question number 7 about topic 10"), Ct)).Matches[0].Exact);
        CacheGetResult semantic = await cache.Engine.GetAsync(Get("How can I reset my password?"), Ct);
        Assert.Equal("Use the link.", Assert.Single(semantic.Matches).Response);
    }

    [Fact]
    public async Task StatisticsCountHitsMissesAndSavings()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder, o => o.ModelPrices["gpt-x"] = new ModelPrice { InputPerMillion = 2, OutputPerMillion = 8 });
        await cache.Engine.SetAsync(new CacheSetRequest { Namespace = "stats", Prompt = "How do I reset my password?", Response = "Link.", UsageModel = "gpt-x", InputTokens = 1000, OutputTokens = 500 }, Ct);
        await cache.Engine.GetAsync(Get("How do I reset my password?", "stats"), Ct);
        await cache.Engine.GetAsync(Get("How can I reset my password?", "stats"), Ct);
        await cache.Engine.GetAsync(Get("Where is the Eiffel tower?", "stats"), Ct);

        CacheStatistics stats = cache.Engine.GetStatistics("stats");
        Assert.Equal(3, stats.Gets);
        Assert.Equal(1, stats.ExactHits);
        Assert.Equal(1, stats.SemanticHits);
        Assert.Equal(1, stats.Misses);
        Assert.Equal(1, stats.Sets);
        Assert.Equal(3000, stats.TokensSaved);
        Assert.Equal(2 * ((1000 * 2.0) + (500 * 8.0)) / 1e6, stats.CostSavedUsd, 1e-9);
        Assert.Equal(2.0 / 3, stats.HitRate, 1e-9);

        // Traffic elsewhere is counted there and in the totals, never in "stats"; a namespace that holds nothing keeps no counters.
        await cache.Engine.SetAsync(new CacheSetRequest { Namespace = "other", Prompt = "What is 2 + 2?", Response = "4" }, Ct);
        await cache.Engine.GetAsync(Get("What is 2 + 2?", "other"), Ct);
        await cache.Engine.GetAsync(Get("How do I reset my password?", "elsewhere"), Ct);
        Assert.Equal(3, cache.Engine.GetStatistics("stats").Gets);
        Assert.Equal(1, cache.Engine.GetStatistics("stats").Sets);
        Assert.Equal(1, cache.Engine.GetStatistics("other").Gets);
        Assert.Equal(1, cache.Engine.GetStatistics("other").ExactHits);
        Assert.Equal(0, cache.Engine.GetStatistics("other").TokensSaved);
        Assert.Equal(0, cache.Engine.GetStatistics("elsewhere").Gets);
        CacheStatistics total = cache.Engine.GetStatistics();
        Assert.Equal(5, total.Gets);
        Assert.Equal(2, total.ExactHits);
        Assert.Equal(1, total.SemanticHits);
        Assert.Equal(2, total.Misses);
        Assert.Equal(2, total.Sets);
        Assert.Equal(3000, total.TokensSaved);
    }

    [Fact]
    public async Task AfterACrashTheIndexSnapshotIsBroughtUpToDateWithTheReplayedLog()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheSetResult kept = await cache.Engine.SetAsync(Set("How tall is Mount Everest?", "8,849 m"), Ct);
        CacheSetResult deleted = await cache.Engine.SetAsync(Set("How deep is the Mariana Trench?", "about 11,000 m"), Ct);
        await cache.Engine.CheckpointAsync(Ct);
        await cache.Engine.DeleteAsync(new CacheDeleteRequest { Id = deleted.Id }, Ct);
        await cache.Engine.SetAsync(Set("How long is the Nile?", "about 6,650 km"), Ct);

        await cache.CrashAndRestartAsync(_embedder);

        EngineRecovery recovery = cache.Engine.Recovery;
        Assert.Equal("snapshot", recovery.IndexSource);
        Assert.Equal(1, recovery.ReplayedIntoIndex);
        Assert.Equal(2, recovery.IndexedVectors);
        Assert.Equal(kept.Id, Assert.Single((await cache.Engine.GetAsync(Get("What is the height of Mount Everest?"), Ct)).Matches).Id);
        Assert.True((await cache.Engine.GetAsync(Get("What is the length of the Nile?"), Ct)).Hit);
        CacheGetResult gone = await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "How deep is the Mariana Trench?", TopK = 5, MinSimilarity = -1 }, Ct);
        Assert.DoesNotContain(gone.Matches, m => m.Id == deleted.Id);

        // A second crash right after start-up finds a snapshot that matches the store's post-recovery checkpoint.
        await cache.CrashAndRestartAsync(_embedder);
        Assert.Equal("snapshot", cache.Engine.Recovery.IndexSource);
        Assert.Equal(2, cache.Engine.Recovery.IndexedVectors);
    }

    [Fact]
    public async Task PerNamespaceStatisticsCountEntriesAndExpirations()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        await cache.Engine.SetAsync(new CacheSetRequest { Namespace = "a", Prompt = "one", Response = "1", TtlSeconds = 60 }, Ct);
        await cache.Engine.SetAsync(new CacheSetRequest { Namespace = "a", Prompt = "two", Response = "2", TtlSeconds = 600 }, Ct);
        await cache.Engine.SetAsync(new CacheSetRequest { Namespace = "b", Prompt = "three", Response = "3", TtlSeconds = 60 }, Ct);
        Assert.Equal(2, cache.Engine.GetStatistics("a").Entries);
        Assert.Equal(1, cache.Engine.GetStatistics("b").Entries);

        cache.Clock.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(2, cache.Engine.SweepExpired());

        Assert.Equal(1, cache.Engine.GetStatistics("a").Entries);
        Assert.Equal(1, cache.Engine.GetStatistics("a").Expirations);
        Assert.Equal(1, cache.Engine.GetStatistics("b").Expirations);
        Assert.Equal(2, cache.Engine.GetStatistics().Expirations);
        Assert.Equal(1, cache.Engine.GetStatistics().Entries);
    }

    [Fact]
    public async Task TheSetAfterAMissedGetDoesNotRunTheModelAgain()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        string prompt = $"A question nobody asked before {Guid.NewGuid():N}";
        Assert.False((await cache.Engine.GetAsync(Get(prompt), Ct)).Hit);
        long embedded = _embedder.BatchedTextCount;
        await cache.Engine.SetAsync(Set(prompt, "the model's answer"), Ct);
        Assert.Equal(embedded, _embedder.BatchedTextCount);
        Assert.True((await cache.Engine.GetAsync(Get(prompt), Ct)).Matches[0].Exact);
    }
}
