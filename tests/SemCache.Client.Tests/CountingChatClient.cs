using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace SemCache.Client.Tests;

/// <summary>A fake model provider that counts its calls and answers with a text derived from the last message.</summary>
public sealed class CountingChatClient : IChatClient
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    /// <summary>Runs at the start of every call (to block, throw or wait for cancellation).</summary>
    public Func<CancellationToken, Task>? OnCall { get; set; }

    /// <summary>Makes the response; default: an answer to the last message's text with usage and a Stop finish reason.</summary>
    public Func<IList<ChatMessage>, ChatResponse>? Respond { get; set; }

    public static string AnswerTo(string question) => "Answer to: " + question;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _calls);
        if (OnCall is not null)
        {
            await OnCall(cancellationToken);
        }

        List<ChatMessage> list = [.. messages];
        return Respond?.Invoke(list) ?? new ChatResponse(new ChatMessage(ChatRole.Assistant, AnswerTo(list[^1].Text)))
        {
            FinishReason = ChatFinishReason.Stop,
            ModelId = options?.ModelId ?? "fake-model",
            Usage = new UsageDetails { InputTokenCount = 20, OutputTokenCount = 50, TotalTokenCount = 70 },
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ChatResponse response = await GetResponseAsync(messages, options, cancellationToken);
        string text = response.Text;
        int half = text.Length / 2;
        yield return new ChatResponseUpdate(ChatRole.Assistant, text[..half]) { ModelId = response.ModelId, MessageId = "m1" };
        yield return new ChatResponseUpdate(ChatRole.Assistant, text[half..]) { ModelId = response.ModelId, MessageId = "m1" };
        yield return new ChatResponseUpdate
        {
            Role = ChatRole.Assistant,
            MessageId = "m1",
            FinishReason = response.FinishReason,
            Contents = response.Usage is null ? [] : [new UsageContent(response.Usage)],
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("fake", defaultModelId: "fake-model") : null;

    public void Dispose()
    {
    }
}
