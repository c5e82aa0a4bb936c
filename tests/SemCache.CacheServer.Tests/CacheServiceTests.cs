using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Core;
using SemCache.Protocol.V1;

namespace SemCache.CacheServer.Tests;

/// <summary>The contract end to end through the in-process server: each test in its own namespace.</summary>
public sealed class CacheServiceTests(ServerFixture fixture)
{
    private readonly SemanticCache.SemanticCacheClient _client = new(fixture.Channel);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string NewNamespace() => "t" + Guid.NewGuid().ToString("N")[..12];

    [Fact]
    public async Task SetThenGetGivesExactThenSemanticHits()
    {
        string ns = NewNamespace();
        SetResponse set = await _client.SetAsync(new SetRequest { Namespace = ns, Prompt = "How do I reset my password?", Response = "Use the link.", TtlSeconds = 600, Usage = new Usage { Model = "m", InputTokens = 12, OutputTokens = 30 } }, cancellationToken: Ct);
        Assert.False(set.Replaced);
        Assert.True(set.SemanticallyIndexed);

        GetResponse exact = await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "How do I reset my  password?" }, cancellationToken: Ct);
        Assert.True(exact.Hit);
        Assert.True(exact.Matches[0].Exact);
        Assert.Equal(1f, exact.Matches[0].Similarity);
        Assert.Equal(set.Id, exact.Matches[0].Id);
        Assert.Equal(SemanticLayer.SkippedExactHit, exact.Semantic);
        Assert.Equal(30u, exact.Matches[0].Usage.OutputTokens);
        Assert.InRange(exact.Matches[0].ExpiresUnixMs - exact.Matches[0].CreatedUnixMs, 599_000, 601_000);

        GetResponse semantic = await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "How can I reset my password?" }, cancellationToken: Ct);
        Assert.True(semantic.Hit);
        Assert.False(semantic.Matches[0].Exact);
        Assert.True(semantic.HasBestSimilarity);

        GetResponse miss = await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "Best pizza in Naples?" }, cancellationToken: Ct);
        Assert.False(miss.Hit);
        Assert.True(miss.HasBestSimilarity);
        Assert.True(miss.BestSimilarity < 0.5f);

        StatsResponse stats = await _client.StatsAsync(new StatsRequest { Namespace = ns }, cancellationToken: Ct);
        Assert.Equal(3ul, stats.Gets);
        Assert.Equal(1ul, stats.ExactHits);
        Assert.Equal(1ul, stats.SemanticHits);
        Assert.Equal(1ul, stats.Misses);
        Assert.Equal(84ul, stats.TokensSaved);
    }

    [Fact]
    public async Task PartitionsIsolateNamespacesAttributesAndConversations()
    {
        string ns = NewNamespace();
        var set = new SetRequest { Namespace = ns, Prompt = "Summarise the meeting", Response = "Summary A" };
        set.Attributes["model"] = "gpt-4o";
        await _client.SetAsync(set, cancellationToken: Ct);

        var sameAttributes = new GetRequest { Namespace = ns, Prompt = "Summarise the meeting" };
        sameAttributes.Attributes["model"] = "gpt-4o";
        Assert.True((await _client.GetAsync(sameAttributes, cancellationToken: Ct)).Hit);

        var otherModel = new GetRequest { Namespace = ns, Prompt = "Summarise the meeting" };
        otherModel.Attributes["model"] = "gpt-4o-mini";
        Assert.False((await _client.GetAsync(otherModel, cancellationToken: Ct)).Hit);
        Assert.False((await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "Summarise the meeting" }, cancellationToken: Ct)).Hit);
        var otherNamespace = new GetRequest { Namespace = NewNamespace(), Prompt = "Summarise the meeting" };
        otherNamespace.Attributes["model"] = "gpt-4o";
        GetResponse foreign = await _client.GetAsync(otherNamespace, cancellationToken: Ct);
        Assert.False(foreign.Hit);
        Assert.False(foreign.HasBestSimilarity);

        var conversation = new SetRequest { Namespace = ns, Response = "En français..." };
        conversation.Messages.Add(new ChatMessage { Role = "user", Content = "Explain HNSW." });
        conversation.Messages.Add(new ChatMessage { Role = "assistant", Content = "HNSW is a graph..." });
        conversation.Messages.Add(new ChatMessage { Role = "user", Content = "and in French?" });
        await _client.SetAsync(conversation, cancellationToken: Ct);

        var otherConversation = new GetRequest { Namespace = ns };
        otherConversation.Messages.Add(new ChatMessage { Role = "user", Content = "Explain B-trees." });
        otherConversation.Messages.Add(new ChatMessage { Role = "assistant", Content = "A B-tree is..." });
        otherConversation.Messages.Add(new ChatMessage { Role = "user", Content = "and in French?" });
        Assert.False((await _client.GetAsync(otherConversation, cancellationToken: Ct)).Hit);

        var sameConversation = new GetRequest { Namespace = ns };
        sameConversation.Messages.Add(conversation.Messages);
        Assert.True((await _client.GetAsync(sameConversation, cancellationToken: Ct)).Matches[0].Exact);

        // The prompt stored with the model attribute, asked again inside a conversation with a system prompt: another context.
        var withSystemPrompt = new GetRequest { Namespace = ns };
        withSystemPrompt.Attributes["model"] = "gpt-4o";
        withSystemPrompt.Messages.Add(new ChatMessage { Role = "system", Content = "Be brief." });
        withSystemPrompt.Messages.Add(new ChatMessage { Role = "user", Content = "Summarise the meeting" });
        Assert.False((await _client.GetAsync(withSystemPrompt, cancellationToken: Ct)).Hit);
    }

    [Fact]
    public async Task TopKAndThresholdsShapeTheAnswer()
    {
        string ns = NewNamespace();
        var many = new SetManyRequest();
        foreach (string prompt in new[] { "How do I reset my password?", "How can I change my password?", "I forgot my password", "Weather in Oslo" })
        {
            many.Entries.Add(new SetRequest { Namespace = ns, Prompt = prompt, Response = prompt.ToUpperInvariant() });
        }

        SetManyResponse stored = await _client.SetManyAsync(many, cancellationToken: Ct);
        Assert.Equal(4, stored.Results.Count);

        GetResponse top = await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "How do I reset my password?", TopK = 3, MinSimilarity = 0.4f }, cancellationToken: Ct);
        Assert.Equal(3, top.Matches.Count);
        Assert.True(top.Matches[0].Exact);
        Assert.True(top.Matches[1].Similarity >= top.Matches[2].Similarity);

        GetResponse strict = await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "Password reset, how?", MinSimilarity = 0.99f }, cancellationToken: Ct);
        Assert.False(strict.Hit);
        GetResponse exactOnly = await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "How can I reset my password?", ExactOnly = true }, cancellationToken: Ct);
        Assert.False(exactOnly.Hit);
        Assert.Equal(SemanticLayer.SkippedExactOnly, exactOnly.Semantic);
    }

    [Fact]
    public async Task DeleteByIdByPartitionAndByNamespace()
    {
        string ns = NewNamespace();
        SetResponse one = await _client.SetAsync(new SetRequest { Namespace = ns, Prompt = "first question", Response = "1" }, cancellationToken: Ct);
        await _client.SetAsync(new SetRequest { Namespace = ns, Prompt = "second question", Response = "2" }, cancellationToken: Ct);
        var tagged = new SetRequest { Namespace = ns, Prompt = "third question", Response = "3" };
        tagged.Attributes["v"] = "2";
        await _client.SetAsync(tagged, cancellationToken: Ct);

        Assert.Equal(0ul, (await _client.DeleteAsync(new DeleteRequest { Namespace = NewNamespace(), Id = one.Id }, cancellationToken: Ct)).Deleted);
        Assert.Equal(1ul, (await _client.DeleteAsync(new DeleteRequest { Namespace = ns, Id = one.Id }, cancellationToken: Ct)).Deleted);
        Assert.Equal(1ul, (await _client.DeleteAsync(new DeleteRequest { Namespace = ns }, cancellationToken: Ct)).Deleted);
        var get = new GetRequest { Namespace = ns, Prompt = "third question" };
        get.Attributes["v"] = "2";
        Assert.True((await _client.GetAsync(get, cancellationToken: Ct)).Hit);
        Assert.Equal(1ul, (await _client.DeleteAsync(new DeleteRequest { Namespace = ns, EntireNamespace = true }, cancellationToken: Ct)).Deleted);
        Assert.False((await _client.GetAsync(get, cancellationToken: Ct)).Hit);
    }

    [Fact]
    public async Task CallerVectorsMustKeepTheNamespaceDimension()
    {
        string ns = NewNamespace();
        await _client.SetAsync(new SetRequest { Namespace = ns, Prompt = "p", Response = "r", Vector = { 1, 0, 0 } }, cancellationToken: Ct);
        GetResponse byVector = await _client.GetAsync(new GetRequest { Namespace = ns, Vector = { 0.8f, 0.2f, 0 } }, cancellationToken: Ct);
        Assert.True(byVector.Hit);
        RpcException e = await Assert.ThrowsAsync<RpcException>(() => _client.GetAsync(new GetRequest { Namespace = ns, Vector = { 1, 0 } }, cancellationToken: Ct).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, e.StatusCode);
        Assert.Equal("vector", Errors.Field(e));
    }

    public static TheoryData<string, StatusCode, string> BadRequests => new()
    {
        { "get-both", StatusCode.InvalidArgument, "prompt" },
        { "get-neither", StatusCode.InvalidArgument, "prompt" },
        { "get-nan", StatusCode.InvalidArgument, "min_similarity" },
        { "get-below", StatusCode.InvalidArgument, "min_similarity" },
        { "get-namespace", StatusCode.InvalidArgument, "namespace" },
        { "get-no-final-user", StatusCode.InvalidArgument, "messages[0].role" },
        { "get-nonfinite", StatusCode.InvalidArgument, "vector[0]" },
        { "get-top-k", StatusCode.InvalidArgument, "top_k" },
        { "get-long-prompt", StatusCode.ResourceExhausted, "prompt" },
        { "get-attributes", StatusCode.ResourceExhausted, "attributes" },
        { "set-no-response", StatusCode.InvalidArgument, "response" },
        { "set-ttl", StatusCode.InvalidArgument, "ttl_seconds" },
        { "set-long-response", StatusCode.ResourceExhausted, "response" },
        { "set-long-message", StatusCode.ResourceExhausted, "messages" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadInputGetsAStatusNamingTheFieldAndNothingIsWritten(string bad, StatusCode code, string field)
    {
        string ns = NewNamespace();
        Task call = bad switch
        {
            "get-both" => _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "p", Messages = { new ChatMessage { Role = "user", Content = "p" } } }, cancellationToken: Ct).ResponseAsync,
            "get-neither" => _client.GetAsync(new GetRequest { Namespace = ns }, cancellationToken: Ct).ResponseAsync,
            "get-nan" => _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "p", MinSimilarity = float.NaN }, cancellationToken: Ct).ResponseAsync,
            "get-below" => _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "p", MinSimilarity = -1.5f }, cancellationToken: Ct).ResponseAsync,
            "get-namespace" => _client.GetAsync(new GetRequest { Namespace = "no spaces allowed", Prompt = "p" }, cancellationToken: Ct).ResponseAsync,
            "get-no-final-user" => _client.GetAsync(new GetRequest { Namespace = ns, Messages = { new ChatMessage { Role = "system", Content = "s" } } }, cancellationToken: Ct).ResponseAsync,
            "get-nonfinite" => _client.GetAsync(new GetRequest { Namespace = ns, Vector = { float.NaN, 1 } }, cancellationToken: Ct).ResponseAsync,
            "get-top-k" => _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "p", TopK = 1000 }, cancellationToken: Ct).ResponseAsync,
            "get-long-prompt" => _client.GetAsync(new GetRequest { Namespace = ns, Prompt = new string('p', 200_000) }, cancellationToken: Ct).ResponseAsync,
            "get-attributes" => _client.GetAsync(WithAttributes(new GetRequest { Namespace = ns, Prompt = "p" }, 40), cancellationToken: Ct).ResponseAsync,
            "set-no-response" => _client.SetAsync(new SetRequest { Namespace = ns, Prompt = "p" }, cancellationToken: Ct).ResponseAsync,
            "set-ttl" => _client.SetAsync(new SetRequest { Namespace = ns, Prompt = "p", Response = "r", TtlSeconds = 100_000_000 }, cancellationToken: Ct).ResponseAsync,
            "set-long-response" => _client.SetAsync(new SetRequest { Namespace = ns, Prompt = "p", Response = new string('r', 300_000) }, cancellationToken: Ct).ResponseAsync,
            "set-long-message" => _client.SetAsync(new SetRequest { Namespace = ns, Response = "r", Messages = { Enumerable.Range(0, 300).Select(_ => new ChatMessage { Role = "user", Content = "m" }) } }, cancellationToken: Ct).ResponseAsync,
            _ => throw new ArgumentOutOfRangeException(nameof(bad)),
        };
        RpcException e = await Assert.ThrowsAsync<RpcException>(() => call);
        Assert.Equal(code, e.StatusCode);
        Assert.Equal(field, Errors.Field(e));
        Assert.StartsWith(field, e.Status.Detail, StringComparison.Ordinal);

        // A rejected Get is not served (not counted); a rejected Set stores nothing. Then the namespace still works.
        StatsResponse stats = await _client.StatsAsync(new StatsRequest { Namespace = ns }, cancellationToken: Ct);
        Assert.Equal(0ul, stats.Gets);
        Assert.Equal(0ul, stats.Sets);
        Assert.Equal(0ul, stats.Entries);
        Assert.False((await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "p", ExactOnly = true }, cancellationToken: Ct)).Hit);
        await _client.SetAsync(new SetRequest { Namespace = ns, Prompt = "p", Response = "r" }, cancellationToken: Ct);
        Assert.True((await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "p", ExactOnly = true }, cancellationToken: Ct)).Hit);
    }

    private static GetRequest WithAttributes(GetRequest request, int count)
    {
        for (int i = 0; i < count; i++)
        {
            request.Attributes[$"k{i}"] = "v";
        }

        return request;
    }

    [Fact]
    public async Task TheApiIsAlsoServedAsHttpJson()
    {
        string ns = NewNamespace();
        using HttpResponseMessage set = await fixture.Http.PostAsJsonAsync(new Uri("/v1/set", UriKind.Relative), new { @namespace = ns, prompt = "What is a semantic cache?", response = "A cache keyed by meaning." }, Ct);
        Assert.True(set.IsSuccessStatusCode);

        using HttpResponseMessage get = await fixture.Http.PostAsJsonAsync(new Uri("/v1/get", UriKind.Relative), new { @namespace = ns, prompt = "What's a semantic cache?" }, Ct);
        using JsonDocument body = JsonDocument.Parse(await get.Content.ReadAsStringAsync(Ct));
        Assert.True(body.RootElement.GetProperty("hit").GetBoolean());
        Assert.Equal("A cache keyed by meaning.", body.RootElement.GetProperty("matches")[0].GetProperty("response").GetString());

        // The engine's errors name fields as the JSON API spells them.
        foreach ((object request, string route, string field) in new (object, string, string)[]
        {
            (new { @namespace = ns, prompt = "x", minSimilarity = 7 }, "get", "minSimilarity"),
            (new { @namespace = ns, prompt = "x", topK = 100_000 }, "get", "topK"),
            (new { @namespace = ns, prompt = "x", response = "r", ttlSeconds = 100_000_000 }, "set", "ttlSeconds"),
            (new { @namespace = ns, messages = new[] { new { role = "system", content = "s" } } }, "get", "messages[0].role"),
        })
        {
            using HttpResponseMessage bad = await fixture.Http.PostAsJsonAsync(new Uri("/v1/" + route, UriKind.Relative), request, Ct);
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
            Google.Rpc.Status error = Errors.ParseJson(await bad.Content.ReadAsStringAsync(Ct));
            Assert.Equal(field, Errors.Field(error));
            Assert.StartsWith(field + ": ", error.Message, StringComparison.Ordinal);
        }

        using HttpResponseMessage stats = await fixture.Http.GetAsync(new Uri($"/v1/stats?namespace={ns}", UriKind.Relative), Ct);
        using JsonDocument statsBody = JsonDocument.Parse(await stats.Content.ReadAsStringAsync(Ct));
        Assert.Equal("1", statsBody.RootElement.GetProperty("semanticHits").ToString());
    }

    [Fact]
    public async Task MetricsCountWhatWasServed()
    {
        // Other tests run at the same time, so the counters are compared as at-least deltas.
        IReadOnlyList<Metrics.Sample> before = Metrics.Parse(await fixture.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct));
        string ns = NewNamespace();
        await _client.SetAsync(new SetRequest { Namespace = ns, Prompt = "metrics please", Response = "ok" }, cancellationToken: Ct);
        Assert.True((await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "metrics please" }, cancellationToken: Ct)).Matches[0].Exact);
        Assert.False((await _client.GetAsync(new GetRequest { Namespace = ns, Prompt = "a question about something else entirely" }, cancellationToken: Ct)).Hit);
        string text = await fixture.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct);
        IReadOnlyList<Metrics.Sample> after = Metrics.Parse(text);

        Assert.Contains("# TYPE semcache_gets_total counter\n", text, StringComparison.Ordinal);
        Assert.True(Metrics.Sum(after, "semcache_sets_total") >= Metrics.Sum(before, "semcache_sets_total") + 1);
        Assert.True(Metrics.Sum(after, "semcache_gets_total", ("result", "exact")) >= Metrics.Sum(before, "semcache_gets_total", ("result", "exact")) + 1);
        Assert.True(Metrics.Sum(after, "semcache_gets_total", ("result", "miss")) >= Metrics.Sum(before, "semcache_gets_total", ("result", "miss")) + 1);
        Assert.True(Metrics.Sum(after, "semcache_entries") >= 1);
        Assert.True(Metrics.Sum(after, "semcache_embedding_texts_total") >= Metrics.Sum(before, "semcache_embedding_texts_total") + 2);
        foreach (string stage in new[] { "get", "set", "exact_lookup", "embed", "search" })
        {
            double count = Metrics.Sum(after, "semcache_stage_seconds_count", ("stage", stage));
            Assert.True(count >= Metrics.Sum(before, "semcache_stage_seconds_count", ("stage", stage)) + 1, stage);
            Assert.Equal(count, Metrics.Sum(after, "semcache_stage_seconds_bucket", ("stage", stage), ("le", "+Inf")));
            Assert.True(Metrics.Sum(after, "semcache_stage_seconds_sum", ("stage", stage)) > 0, stage);
        }
    }
}
