using SemCache.LoadTool.Data;

namespace SemCache.LoadTool.Tests;

public sealed class PairFileTests
{
    [Fact]
    public void ReadsRowsAndSkipsTheHeader()
    {
        IReadOnlyList<LabelledPair> pairs = PairFile.Parse(["label\tq1\tq2", "1\tHow old is the sun?\tWhat is the age of the sun?", "0\tWhat is Go?\tWhat is Rust?"]);

        Assert.Equal(2, pairs.Count);
        Assert.Equal(new LabelledPair(1, "How old is the sun?", "What is the age of the sun?", 2), pairs[0]);
        Assert.True(pairs[0].IsDuplicate);
        Assert.False(pairs[1].IsDuplicate);
        Assert.Equal(3, pairs[1].LineNumber);
    }

    [Fact]
    public void AcceptsAFileWithoutHeaderCrlfAndBlankLines()
    {
        IReadOnlyList<LabelledPair> pairs = PairFile.Parse(["1\ta\tb\r", "", "0\tc\td"]);

        Assert.Equal(["b", "d"], pairs.Select(p => p.Second));
        Assert.Equal([1, 3], pairs.Select(p => p.LineNumber)); // a skipped blank line still counts, so errors name the right line
    }

    [Fact]
    public void LimitKeepsTheFirstRowsInFileOrder()
    {
        IReadOnlyList<LabelledPair> pairs = PairFile.Parse(["label\tq1\tq2", "1\ta\tb", "0\tc\td", "1\te\tf"], limit: 2);

        Assert.Equal(["a", "c"], pairs.Select(p => p.First));
    }

    [Theory]
    [InlineData("1\tonly two fields", "expected 3")]
    [InlineData("2\ta\tb", "label must be 0 or 1")]
    [InlineData("1\t \tb", "must not be empty")]
    [InlineData("1\ta\tb\tc", "expected 3")]
    public void RejectsAMalformedLineNamingIt(string line, string message)
    {
        FormatException error = Assert.Throws<FormatException>(() => PairFile.Parse(["label\tq1\tq2", "1\tx\ty", line]));

        Assert.Contains("line 3", error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NormalisesAsTheServerDoes()
    {
        Assert.Equal("What is it?", PromptNormalizer.Normalize("  What \t is\n\n it?  "));
        // The server (InvariantGlobalization false) stores "cafe\u0301" as "caf\u00e9"; the tool must agree, or its
        // preload dedupe and its "hit is the expected entry" check differ from the server for decomposed text.
        Assert.Equal("caf\u00e9", PromptNormalizer.Normalize("cafe\u0301"));
        Assert.Equal("Case Kept", PromptNormalizer.Normalize("Case Kept"));
    }
}
