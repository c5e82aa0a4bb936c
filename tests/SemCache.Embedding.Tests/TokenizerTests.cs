namespace SemCache.Embedding.Tests;

/// <summary>Token ids must be exactly those of the model's own (Hugging Face) tokenizer.</summary>
public sealed class TokenizerTests(EmbedderFixture fixture)
{
    private readonly WordPieceTokenizer _tokenizer = fixture.Embedder.Tokenizer;

    [Theory]
    // Published by the sentence-transformers R test suite (shared/data/reference/reference-vectors.json).
    [InlineData("This is an example sentence", new[] { 101, 2023, 2003, 2019, 2742, 6251, 102 })]
    [InlineData("Each sentence is converted.", new[] { 101, 2169, 6251, 2003, 4991, 1012, 102 })]
    // Lower-casing, accent stripping (é → e, à → a), punctuation split (—) and CJK split one character at a time.
    [InlineData("Café déjà vu — 東京", new[] { 101, 7668, 2139, 3900, 24728, 1517, 1879, 1755, 102 })]
    [InlineData("", new[] { 101, 102 })]
    public void MatchesReferenceTokenIds(string text, int[] expected)
    {
        TokenizedText tokens = _tokenizer.Tokenize(text);
        Assert.Equal(expected, tokens.Ids);
        Assert.False(tokens.Truncated);
    }

    [Fact]
    public void CaseAndAccentsDoNotChangeTokens()
    {
        Assert.Equal(_tokenizer.Tokenize("hello world").Ids, _tokenizer.Tokenize("HELLO World").Ids);
        Assert.Equal(_tokenizer.Tokenize("resume").Ids, _tokenizer.Tokenize("résumé").Ids);
    }

    [Fact]
    public void ControlCharactersAndWhitespaceRunsAreIgnored()
    {
        Assert.Equal(_tokenizer.Tokenize("hello world").Ids, _tokenizer.Tokenize("  hello\t\n\u0000 world  ").Ids);
    }

    [Fact]
    public void TextWithinTheWindowIsNotTruncated()
    {
        // 254 word pieces + [CLS] + [SEP] = exactly the 256-token window.
        string text = string.Join(' ', Enumerable.Repeat("cat", 254));
        TokenizedText tokens = _tokenizer.Tokenize(text);
        Assert.Equal(256, tokens.Ids.Length);
        Assert.False(tokens.Truncated);
    }

    [Fact]
    public void TextLongerThanTheWindowIsTruncatedAndFlagged()
    {
        string text = string.Join(' ', Enumerable.Repeat("cat", 255));
        TokenizedText tokens = _tokenizer.Tokenize(text);
        Assert.True(tokens.Truncated);
        Assert.Equal(256, tokens.Ids.Length);
        Assert.Equal(101, tokens.Ids[0]);
        Assert.Equal(102, tokens.Ids[^1]);
    }

    [Fact]
    public void TruncationCutsInsideAWordAsTheReferenceTokenizerDoes()
    {
        // 253 single-piece words, then a word of several pieces: only its first piece fits.
        string text = string.Join(' ', Enumerable.Repeat("cat", 253)) + " unaffable";
        int[] word = _tokenizer.Tokenize("unaffable").Ids[1..^1];
        Assert.True(word.Length > 1);
        TokenizedText tokens = _tokenizer.Tokenize(text);
        Assert.True(tokens.Truncated);
        Assert.Equal(word[0], tokens.Ids[^2]);
    }

    [Fact]
    public void ACasedTokenizerKeepsCaseAndAccents()
    {
        string vocab = Path.Combine(AppContext.BaseDirectory, "models", "all-MiniLM-L6-v2", "vocab.txt");
        var cased = new WordPieceTokenizer(vocab, 256, lowerCase: false);
        Assert.NotEqual(cased.Tokenize("hello world").Ids, cased.Tokenize("HELLO World").Ids);
        Assert.NotEqual(cased.Tokenize("resume").Ids, cased.Tokenize("r\u00e9sum\u00e9").Ids);
        Assert.Equal(_tokenizer.Tokenize("hello world").Ids, cased.Tokenize("hello world").Ids);
    }

    [Fact]
    public void TheWindowIsTheOneGiven()
    {
        string vocab = Path.Combine(AppContext.BaseDirectory, "models", "all-MiniLM-L6-v2", "vocab.txt");
        var small = new WordPieceTokenizer(vocab, 16);
        Assert.Equal(16, small.MaxTokens);
        TokenizedText fits = small.Tokenize(string.Join(' ', Enumerable.Repeat("cat", 14)));
        Assert.Equal(16, fits.Ids.Length);
        Assert.False(fits.Truncated);
        TokenizedText cut = small.Tokenize(string.Join(' ', Enumerable.Repeat("cat", 15)));
        Assert.Equal(16, cut.Ids.Length);
        Assert.True(cut.Truncated);
        Assert.Equal(small.SepId, cut.Ids[^1]);
    }

    [Fact]
    public void MissingVocabularyIsReportedWithItsPath()
    {
        var e = Assert.Throws<FileNotFoundException>(() => new WordPieceTokenizer("/nonexistent/vocab.txt", 256));
        Assert.Contains("/nonexistent/vocab.txt", e.Message, StringComparison.Ordinal);
    }
}
