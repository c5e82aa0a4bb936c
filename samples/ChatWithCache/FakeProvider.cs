using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace ChatWithCache;

/// <summary>
/// A stand-in for a paid model, so that the sample runs offline: it takes about a second, like a real call, answers a few
/// help-desk questions and reports token usage as a provider would.
/// </summary>
internal sealed class FakeProvider(string model) : IChatClient
{
    private static readonly (string Word, string Answer)[] Answers =
    [
        ("password", "Use the \"Forgot password\" link on the sign-in page; the reset email arrives within a minute."),
        ("refund", "Refunds go back to the original payment method within 5 business days of the return arriving."),
        ("ship", "Orders ship within 24 hours; standard delivery takes 2 to 4 business days."),
    ];

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        List<ChatMessage> list = [.. messages];
        await Task.Delay(TimeSpan.FromMilliseconds(900), cancellationToken).ConfigureAwait(false);
        string question = list[^1].Text;
        string answer = Answers.FirstOrDefault(a => question.Contains(a.Word, StringComparison.OrdinalIgnoreCase)).Answer
            ?? "I'm not sure; a colleague from the help desk will email you.";
        long input = list.Sum(m => (long)m.Text.Length) / 4 + 8;
        long output = answer.Length / 4;
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, answer))
        {
            ModelId = options?.ModelId ?? model,
            FinishReason = ChatFinishReason.Stop,
            Usage = new UsageDetails { InputTokenCount = input, OutputTokenCount = output, TotalTokenCount = input + output },
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ChatResponse response = await GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
        foreach (ChatResponseUpdate update in response.ToChatResponseUpdates())
        {
            yield return update;
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("fake", defaultModelId: model) : null;

    public void Dispose()
    {
    }
}
