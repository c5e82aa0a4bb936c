namespace SemCache.Cache.Tests;

public sealed class PartitionTests
{
    [Theory]
    [InlineData("  hello   world \n", "hello world")]
    [InlineData("Cafe\u0301", "Caf\u00e9")]
    [InlineData("UPPER case", "UPPER case")]
    [InlineData("tab\tand\r\nnewline", "tab and newline")]
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
    }

    [Fact]
    public void TheContextFingerprintCoversRolesAndContents()
    {
        Partition user = Partition.Create("ns", [], [new ChatMessage("user", "hi")]);
        Partition system = Partition.Create("ns", [], [new ChatMessage("system", "hi")]);
        Partition spaced = Partition.Create("ns", [], [new ChatMessage("user", "  hi ")]);
        Assert.NotEqual(user.Key, system.Key);
        Assert.Equal(user.Key, spaced.Key);
        Assert.Equal(16, user.ContextFingerprint.Length);
        Assert.True(Partition.Create("ns", [], []).ContextFingerprint.IsEmpty);
    }
}
