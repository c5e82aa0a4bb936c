using Microsoft.ML.Tokenizers;

namespace SemCache.Embedding;

/// <summary>
/// BERT WordPiece tokenisation exactly as the Hugging Face tokenizer of an uncased BERT model does it: basic
/// tokenisation (control characters removed, whitespace and punctuation split, CJK ideographs split one by one),
/// lower-casing with accent stripping, WordPiece, then [CLS] … [SEP], truncated to the model's window.
/// </summary>
public sealed class WordPieceTokenizer
{
    private readonly BertTokenizer _tokenizer;

    /// <summary>Loads the vocabulary (one word piece per line, line number = id).</summary>
    /// <param name="vocabPath">Path of <c>vocab.txt</c>.</param>
    /// <param name="maxTokens">The model's window, special tokens included.</param>
    /// <param name="lowerCase">Lower-case and strip accents (uncased models).</param>
    public WordPieceTokenizer(string vocabPath, int maxTokens, bool lowerCase = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 3);
        if (!File.Exists(vocabPath))
        {
            throw new FileNotFoundException($"The vocabulary file '{vocabPath}' does not exist.", vocabPath);
        }

        _tokenizer = BertTokenizer.Create(vocabPath, new BertOptions
        {
            LowerCaseBeforeTokenization = lowerCase,
            // Hugging Face's BasicTokenizer strips accents whenever it lower-cases (strip_accents=None).
            RemoveNonSpacingMarks = lowerCase,
            ApplyBasicTokenization = true,
            IndividuallyTokenizeCjk = true,
            SplitOnSpecialTokens = true,
        });
        MaxTokens = maxTokens;
        ClsId = _tokenizer.ClassificationTokenId;
        SepId = _tokenizer.SeparatorTokenId;
        PadId = _tokenizer.PaddingTokenId;
    }

    /// <summary>The window, special tokens included.</summary>
    public int MaxTokens { get; }

    /// <summary>Id of [CLS].</summary>
    public int ClsId { get; }

    /// <summary>Id of [SEP].</summary>
    public int SepId { get; }

    /// <summary>Id of [PAD].</summary>
    public int PadId { get; }

    /// <summary>Tokenises <paramref name="text"/> into [CLS] word pieces [SEP], at most <see cref="MaxTokens"/> ids.</summary>
    public TokenizedText Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);

        // The whole text is tokenised, not just a prefix: the encoder's own token limit stops at word boundaries,
        // whereas the reference tokenizer truncates inside a word, and the cache must know whether anything was cut.
        IReadOnlyList<int> pieces = _tokenizer.EncodeToIds(text, addSpecialTokens: false);
        int room = MaxTokens - 2;
        bool truncated = pieces.Count > room;
        int kept = truncated ? room : pieces.Count;
        var ids = new int[kept + 2];
        ids[0] = ClsId;
        for (int i = 0; i < kept; i++)
        {
            ids[i + 1] = pieces[i];
        }

        ids[kept + 1] = SepId;
        return new TokenizedText(ids, truncated);
    }
}

/// <summary>Token ids of one text, special tokens included.</summary>
/// <param name="Ids">[CLS] word pieces [SEP].</param>
/// <param name="Truncated">Word pieces past the window were dropped.</param>
public readonly record struct TokenizedText(int[] Ids, bool Truncated);
