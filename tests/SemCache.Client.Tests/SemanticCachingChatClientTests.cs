using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace SemCache.Client.Tests;

/// <summary>The middleware in front of a counting fake provider, against the real in-process server.</summary>
public sealed class SemanticCachingChatClientTests(ServerFixture fixture)
{
    private const string Question = "How do I reset my password?";
    private const string Paraphrase = "How can I reset my password?";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static IChatClient Build(CountingChatClient inner, SemCacheClient cache) => inner.AsBuilder().UseSemanticCache(cache).Build();

    [Fact]
    public async Task ARepeatAndAParaphraseCallTheProviderOnce()
    {
        var inner = new CountingChatClient();
        using SemCacheClient cache = fixture.NewClient();
        IChatClient chat = Build(inner, cache);

        ChatResponse first = await chat.GetResponseAsync(Question, cancellationToken: Ct);
        ChatResponse repeat = await chat.GetResponseAsync(Question, cancellationToken: Ct);
        ChatResponse paraphrase = await chat.GetResponseAsync(Paraphrase, cancellationToken: Ct);

        Assert.Equal(1, inner.Calls);
        Assert.Null(first.AdditionalProperties?.GetValueOrDefault(SemanticCachingChatClient.StatusProperty));
        Assert.Equal(first.Text, repeat.Text);
        Assert.Equal("exact", repeat.AdditionalProperties![SemanticCachingChatClient.StatusProperty]);
        Assert.Equal(1f, repeat.AdditionalProperties[SemanticCachingChatClient.SimilarityProperty]);
        Assert.Equal(first.Text, paraphrase.Text);
        Assert.Equal("semantic", paraphrase.AdditionalProperties![SemanticCachingChatClient.StatusProperty]);
        Assert.InRange((float)paraphrase.AdditionalProperties[SemanticCachingChatClient.SimilarityProperty]!, 0.9f, 1f);

        Assert.Equal(ChatRole.Assistant, paraphrase.Messages.Single().Role);
        Assert.Equal(ChatFinishReason.Stop, paraphrase.FinishReason);
        Assert.Equal("fake-model", paraphrase.ModelId);
        Assert.Equal(20, paraphrase.Usage?.InputTokenCount);
        Assert.Equal(50, paraphrase.Usage?.OutputTokenCount);

        CacheStatistics stats = await cache.StatsAsync(cache.Namespace, Ct);
        Assert.Equal(2 * 70, stats.TokensSaved);
    }

    public static TheoryData<string> Variations() => ["system prompt", "model", "temperature", "tools", "tool schema", "response format", "instructions", "earlier turn"];

    [Theory]
    [MemberData(nameof(Variations))]
    public async Task ACallThatDiffersInWhatChangesTheAnswerCallsTheProviderAgain(string variation)
    {
        var inner = new CountingChatClient();
        using SemCacheClient cache = fixture.NewClient();
        IChatClient chat = Build(inner, cache);
        (List<ChatMessage> messages, ChatOptions options) Call(bool varied)
        {
            var messages = new List<ChatMessage> { new(ChatRole.System, varied && variation == "system prompt" ? "You are a pirate." : "You are helpful.") };
            if (variation == "earlier turn")
            {
                messages.Add(new ChatMessage(ChatRole.User, varied ? "I use the mobile app." : "I use the website."));
                messages.Add(new ChatMessage(ChatRole.Assistant, "Noted."));
            }

            messages.Add(new ChatMessage(ChatRole.User, Question));
            var options = new ChatOptions
            {
                ModelId = varied && variation == "model" ? "gpt-4o" : "gpt-4o-mini",
                Temperature = varied && variation == "temperature" ? 0.9f : 0.2f,
                Tools = [AIFunctionFactory.Create((string city) => "sunny", "weather", "The weather in a city.")],
                ResponseFormat = varied && variation == "response format" ? ChatResponseFormat.Json : ChatResponseFormat.Text,
                Instructions = varied && variation == "instructions" ? "Answer in French." : null,
            };
            if (varied && variation == "tools")
            {
                options.Tools.Add(AIFunctionFactory.Create(() => "12:00", "time", "The time."));
            }

            if (varied && variation == "tool schema")
            {
                options.Tools = [AIFunctionFactory.Create((string city, int days) => "sunny", "weather", "The weather in a city.")];
            }

            return (messages, options);
        }

        (List<ChatMessage> m1, ChatOptions o1) = Call(varied: false);
        await chat.GetResponseAsync(m1, o1, Ct);
        (List<ChatMessage> again, ChatOptions againOptions) = Call(varied: false);
        await chat.GetResponseAsync(again, againOptions, Ct);
        Assert.Equal(1, inner.Calls);

        (List<ChatMessage> m2, ChatOptions o2) = Call(varied: true);
        ChatResponse varied = await chat.GetResponseAsync(m2, o2, Ct);
        Assert.Equal(2, inner.Calls);
        Assert.Null(varied.AdditionalProperties?.GetValueOrDefault(SemanticCachingChatClient.StatusProperty));
    }

    [Fact]
    public async Task MessageIdsAndTimestampsAreNotPartOfTheKey()
    {
        var inner = new CountingChatClient();
        using SemCacheClient cache = fixture.NewClient();
        IChatClient chat = Build(inner, cache);
        ChatMessage[] Conversation(string id, DateTimeOffset at) =>
        [
            new(ChatRole.System, "You are helpful.") { MessageId = id + "s", CreatedAt = at },
            new(ChatRole.User, Question) { MessageId = id + "u", CreatedAt = at },
        ];

        await chat.GetResponseAsync(Conversation("a", DateTimeOffset.UnixEpoch), cancellationToken: Ct);
        ChatResponse second = await chat.GetResponseAsync(Conversation("b", DateTimeOffset.UtcNow), cancellationToken: Ct);
        Assert.Equal(1, inner.Calls);
        Assert.Equal("exact", second.AdditionalProperties![SemanticCachingChatClient.StatusProperty]);
    }

    [Fact]
    public async Task AStreamedMissIsStoredOnceCompleteAndReplayedAsAStream()
    {
        var inner = new CountingChatClient();
        using SemCacheClient cache = fixture.NewClient();
        IChatClient chat = Build(inner, cache);

        List<ChatResponseUpdate> first = await ToListAsync(chat.GetStreamingResponseAsync(Question, cancellationToken: Ct));
        Assert.Equal(3, first.Count);
        Assert.Equal(CountingChatClient.AnswerTo(Question), first.ToChatResponse().Text);

        List<ChatResponseUpdate> replay = await ToListAsync(chat.GetStreamingResponseAsync(Paraphrase, cancellationToken: Ct));
        Assert.Equal(1, inner.Calls);
        ChatResponse replayed = replay.ToChatResponse();
        Assert.Equal(CountingChatClient.AnswerTo(Question), replayed.Text);
        Assert.Equal(ChatFinishReason.Stop, replayed.FinishReason);
        Assert.Equal(50, replayed.Usage?.OutputTokenCount);

        ChatResponse nonStreamed = await chat.GetResponseAsync(Question, cancellationToken: Ct);
        Assert.Equal(1, inner.Calls);
        Assert.Equal("exact", nonStreamed.AdditionalProperties![SemanticCachingChatClient.StatusProperty]);
    }

    [Fact]
    public async Task AStreamedCallIsServedFromANonStreamedEntry()
    {
        var inner = new CountingChatClient();
        using SemCacheClient cache = fixture.NewClient();
        IChatClient chat = Build(inner, cache);

        ChatResponse stored = await chat.GetResponseAsync(Question, cancellationToken: Ct);
        List<ChatResponseUpdate> streamed = await ToListAsync(chat.GetStreamingResponseAsync(Question, cancellationToken: Ct));

        Assert.Equal(1, inner.Calls);
        Assert.Equal(stored.Text, streamed.ToChatResponse().Text);
        Assert.Equal("exact", streamed.ToChatResponse().AdditionalProperties?[SemanticCachingChatClient.StatusProperty]);
    }

    [Fact]
    public async Task AnAbandonedStreamIsNotStored()
    {
        var inner = new CountingChatClient();
        using SemCacheClient cache = fixture.NewClient();
        IChatClient chat = Build(inner, cache);

        await foreach (ChatResponseUpdate update in chat.GetStreamingResponseAsync(Question, cancellationToken: Ct))
        {
            break;
        }

        await chat.GetResponseAsync(Question, cancellationToken: Ct);
        Assert.Equal(2, inner.Calls);
    }

    [Fact]
    public async Task AnExceptionIsNotStored()
    {
        var inner = new CountingChatClient { OnCall = _ => throw new InvalidOperationException("provider down") };
        using SemCacheClient cache = fixture.NewClient();
        IChatClient chat = Build(inner, cache);

        await Assert.ThrowsAsync<InvalidOperationException>(() => chat.GetResponseAsync(Question, cancellationToken: Ct));
        inner.OnCall = null;
        ChatResponse response = await chat.GetResponseAsync(Question, cancellationToken: Ct);
        Assert.Equal(2, inner.Calls);
        Assert.Null(response.AdditionalProperties?.GetValueOrDefault(SemanticCachingChatClient.StatusProperty));
    }

    [Fact]
    public async Task ACancellationIsNotStored()
    {
        var inner = new CountingChatClient { OnCall = t => Task.Delay(Timeout.Infinite, t) };
        using SemCacheClient cache = fixture.NewClient();
        IChatClient chat = Build(inner, cache);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        Task<ChatResponse> call = chat.GetResponseAsync(Question, cancellationToken: cts.Token);
        while (inner.Calls == 0)
        {
            await Task.Delay(10, Ct);
        }

        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        inner.OnCall = null;
        await chat.GetResponseAsync(Question, cancellationToken: Ct);
        Assert.Equal(2, inner.Calls);
    }

    [Fact]
    public async Task ACallInAProviderKeptConversationIsNotCached()
    {
        var inner = new CountingChatClient();
        using SemCacheClient cache = fixture.NewClient();
        IChatClient chat = Build(inner, cache);
        var options = new ChatOptions { ConversationId = "conv-1" };

        await chat.GetResponseAsync(Question, options, Ct);
        await chat.GetResponseAsync(Question, options, Ct);
        Assert.Equal(2, inner.Calls);
        Assert.Equal(0, (await cache.StatsAsync(cache.Namespace, Ct)).Entries);
    }

    [Fact]
    public async Task AFunctionCallIsNotStored()
    {
        var inner = new CountingChatClient
        {
            Respond = _ => new ChatResponse(new ChatMessage(ChatRole.Assistant, [new FunctionCallContent("c1", "weather", new Dictionary<string, object?> { ["city"] = "Paris" })]))
            {
                FinishReason = ChatFinishReason.ToolCalls,
            },
        };
        using SemCacheClient cache = fixture.NewClient();
        IChatClient chat = Build(inner, cache);

        await chat.GetResponseAsync("What is the weather in Paris?", cancellationToken: Ct);
        ChatResponse again = await chat.GetResponseAsync("What is the weather in Paris?", cancellationToken: Ct);
        Assert.Equal(2, inner.Calls);
        Assert.IsType<FunctionCallContent>(again.Messages.Single().Contents.Single());
    }

    [Fact]
    public async Task ConcurrentIdenticalMissesMakeOneProviderCall()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inner = new CountingChatClient
        {
            OnCall = async _ =>
            {
                entered.TrySetResult();
                await release.Task;
            },
        };
        using SemCacheClient cache = fixture.NewClient();
        IChatClient chat = Build(inner, cache);

        Task<ChatResponse> leader = chat.GetResponseAsync(Question, cancellationToken: Ct);
        await entered.Task.WaitAsync(Ct);
        Task<ChatResponse>[] followers = [.. Enumerable.Range(0, 4).Select(_ => chat.GetResponseAsync(Question, cancellationToken: Ct))];
        release.SetResult();

        ChatResponse[] all = await Task.WhenAll([leader, .. followers]);
        Assert.Equal(1, inner.Calls);
        Assert.All(all, r => Assert.Equal(CountingChatClient.AnswerTo(Question), r.Text));
    }

    [Fact]
    public async Task PerCallControlsSkipNoStoreAndMinSimilarity()
    {
        var inner = new CountingChatClient();
        using SemCacheClient cache = fixture.NewClient();
        IChatClient chat = Build(inner, cache);
        static ChatOptions With(string key, object value) => new() { AdditionalProperties = new() { [key] = value } };

        await chat.GetResponseAsync(Question, With(SemanticCachingChatClient.NoStoreProperty, true), Ct);
        await chat.GetResponseAsync(Question, cancellationToken: Ct);
        Assert.Equal(2, inner.Calls);

        await chat.GetResponseAsync(Question, With(SemanticCachingChatClient.SkipProperty, true), Ct);
        Assert.Equal(3, inner.Calls);

        // The controls are not part of the key: a hit needs no equal controls.
        ChatResponse strict = await chat.GetResponseAsync(Paraphrase, With(SemanticCachingChatClient.MinSimilarityProperty, 0.999999), Ct);
        Assert.Equal(4, inner.Calls);
        ChatResponse loose = await chat.GetResponseAsync(Paraphrase, With(SemanticCachingChatClient.TtlSecondsProperty, JsonSerializer.SerializeToElement(60)), Ct);
        Assert.Equal(4, inner.Calls);
        Assert.Equal("exact", loose.AdditionalProperties![SemanticCachingChatClient.StatusProperty]);
        Assert.Null(strict.AdditionalProperties?.GetValueOrDefault(SemanticCachingChatClient.StatusProperty));
    }

    [Fact]
    public async Task TheCacheStoppedMidConversationLeavesTheChatWorkingAndCountsTheFailure()
    {
        await using InProcessServer server = InProcessServer.Start();
        using var cache = new SemCacheClient(new SemCacheClientOptions { Address = new Uri("http://localhost"), HttpHandler = server.Handler, Timeout = TimeSpan.FromSeconds(30) });
        var inner = new CountingChatClient();
        IChatClient chat = Build(inner, cache);

        await chat.GetResponseAsync(Question, cancellationToken: Ct);
        Assert.Equal("exact", (await chat.GetResponseAsync(Question, cancellationToken: Ct)).AdditionalProperties![SemanticCachingChatClient.StatusProperty]);
        Assert.Equal(1, inner.Calls);

        await server.StopAsync();
        ChatResponse during = await chat.GetResponseAsync(Question, cancellationToken: Ct);
        Assert.Equal(CountingChatClient.AnswerTo(Question), during.Text);
        Assert.Equal(2, inner.Calls);
        Assert.True(cache.FailureCount >= 1);
    }

    [Fact]
    public async Task WithFailOpenOffALookupFailureThrowsButAStoreFailureKeepsTheAnswer()
    {
        var service = new FakeCacheService { Miss = true, FailSets = true };
        await using var host = new FakeCacheHost(service);
        using SemCacheClient cache = host.NewClient(o => (o.FailOpen, o.Timeout, o.MaxRetries) = (false, TimeSpan.FromSeconds(30), 0));
        var inner = new CountingChatClient();
        IChatClient chat = Build(inner, cache);

        ChatResponse answered = await chat.GetResponseAsync(Question, cancellationToken: Ct);
        Assert.Equal(CountingChatClient.AnswerTo(Question), answered.Text);
        Assert.Equal(1, cache.FailureCount);

        service.Miss = false;
        service.Hang = true;
        using SemCacheClient hanging = host.NewClient(o => (o.FailOpen, o.Timeout) = (false, TimeSpan.FromMilliseconds(200)));
        await Assert.ThrowsAsync<SemCacheException>(() => Build(inner, hanging).GetResponseAsync(Question, cancellationToken: Ct));
        Assert.Equal(1, inner.Calls);
    }

    [Fact]
    public async Task UseSemanticCacheTakesTheClientFromServicesAndIsConfigured()
    {
        var services = new ServiceCollection();
        using SemCacheClient cache = fixture.NewClient();
        services.AddSingleton(cache);
        var inner = new CountingChatClient();
        services.AddChatClient(inner).UseSemanticCache(configure: c => c.Namespace = cache.Namespace + "x");
        await using ServiceProvider provider = services.BuildServiceProvider();
        IChatClient chat = provider.GetRequiredService<IChatClient>();

        await chat.GetResponseAsync(Question, cancellationToken: Ct);
        await chat.GetResponseAsync(Question, cancellationToken: Ct);
        Assert.Equal(1, inner.Calls);
        Assert.Equal(1, (await cache.StatsAsync(cache.Namespace + "x", Ct)).Entries);
        Assert.Equal(0, (await cache.StatsAsync(cache.Namespace, Ct)).Entries);
    }

    private static async Task<List<ChatResponseUpdate>> ToListAsync(IAsyncEnumerable<ChatResponseUpdate> updates)
    {
        var list = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate u in updates)
        {
            list.Add(u);
        }

        return list;
    }
}
