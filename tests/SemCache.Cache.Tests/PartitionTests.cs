using SemCache.Storage;

namespace SemCache.Cache.Tests;

public sealed class PartitionTests
{
    [Theory]
    [InlineData("  hello   world \n", "hello world")]
    [InlineData("Cafe\u0301", "Caf\u00e9")]
    [InlineData("UPPER case", "UPPER case")]
    [InlineData("tab\tand\r\nnewline", "tab and newline")]
    // A single whitespace character other than a space, with no run anywhere: it must still become one space.
    [InlineData("one\ttab", "one tab")]
    [InlineData("one\nnewline", "one newline")]
    [InlineData("no\u00a0break", "no break")]
    [InlineData("already normal", "already normal")]
    public void PromptsAreNormalisedWithNfcTrimAndCollapsedWhitespace(string input, string expected) =>
        Assert.Equal(expected, PromptText.Normalize(input));

    [Fact]
    public void AttributeOrderDoesNotMatterButEveryPairDoes()
    {
        KeyValuePair<string, string> a = new("a", "1"), b = new("b", "2");
        Assert.Equal(Partition.Create("ns", [a, b], []).Key, Partition.Create("ns", [b, a], []).Key);
        Assert.NotEqual(Partition.Create("ns", [a, b], []).Key, Partition.Create("ns", [a], []).Key);
        Assert.NotEqual(Partition.Create("ns", [new("a", "1b")], []).Key, Partition.Create("ns", [new("a1", "b")], []).Key);
        Assert.NotEqual(Partition.Create("ns", [], []).Key, Partition.Create("ns2", [], []).Key);
        Assert.Equal(Partition.Create("", [], []).Key, Partition.Create("default", [], []).Key);

        // Same keys, one value differs; and a key and its value swapped.
        Assert.NotEqual(Partition.Create("ns", [a, b], []).Key, Partition.Create("ns", [a, new("b", "3")], []).Key);
        Assert.NotEqual(Partition.Create("ns", [new("k", "v")], []).Key, Partition.Create("ns", [new("v", "k")], []).Key);
        Assert.Equal(["a", "b"], Partition.Create("ns", [b, a], []).Attributes.Select(p => p.Key));
    }

    [Fact]
    public void TheContextFingerprintCoversRolesAndContents()
    {
        Partition user = Partition.Create("ns", [], [new ChatMessage("user", "hi")]);
        Partition system = Partition.Create("ns", [], [new ChatMessage("system", "hi")]);
        Partition spaced = Partition.Create("ns", [], [new ChatMessage("user", "  hi ")]);
        Partition other = Partition.Create("ns", [], [new ChatMessage("user", "hello")]);
        Assert.NotEqual(user.Key, system.Key);
        Assert.Equal(user.Key, spaced.Key);
        Assert.NotEqual(user.Key, other.Key);
        Assert.False(user.ContextFingerprint.Span.SequenceEqual(other.ContextFingerprint.Span));
        Assert.Equal(16, user.ContextFingerprint.Length);
        Assert.True(Partition.Create("ns", [], []).ContextFingerprint.IsEmpty);

        // The order of the turns is part of the conversation.
        ChatMessage question = new("user", "Describe Paris."), answer = new("assistant", "Paris is...");
        Assert.NotEqual(Partition.Create("ns", [], [question, answer]).Key, Partition.Create("ns", [], [answer, question]).Key);
    }

    [Fact]
    public void MatchesAcceptsOnlyAnEntryOfExactlyThisPartition()
    {
        // Matches is the guard behind the 64-bit key: an entry that reaches a lookup through a colliding key must
        // still be refused unless namespace, every attribute and the context are the same.
        KeyValuePair<string, string> model = new("model", "gpt-4o"), temperature = new("temperature", "0");
        ChatMessage[] context = [new("system", "You are a travel guide.")];
        Partition partition = Partition.Create("tenant", [temperature, model], context);

        static CacheEntry EntryOf(Partition p) => new() { Namespace = p.Namespace, Attributes = p.Attributes, ContextFingerprint = p.ContextFingerprint, Prompt = "q", Response = "r" };

        Assert.True(partition.Matches(EntryOf(Partition.Create("tenant", [model, temperature], context))));
        Assert.False(partition.Matches(EntryOf(Partition.Create("tenant2", [model, temperature], context))));
        Assert.False(partition.Matches(EntryOf(Partition.Create("tenant", [model, new("temperature", "1")], context))));
        Assert.False(partition.Matches(EntryOf(Partition.Create("tenant", [model, new("temperature2", "0")], context))));
        Assert.False(partition.Matches(EntryOf(Partition.Create("tenant", [model], context))));
        Assert.False(partition.Matches(EntryOf(Partition.Create("tenant", [model, temperature, new("seed", "1")], context))));
        Assert.False(partition.Matches(EntryOf(Partition.Create("tenant", [model, temperature], [new("system", "You are a pirate.")]))));
        Assert.False(partition.Matches(EntryOf(Partition.Create("tenant", [model, temperature], []))));
    }
}
