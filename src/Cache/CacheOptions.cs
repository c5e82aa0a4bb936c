using System.Globalization;

namespace SemCache.Cache;

/// <summary>Options of the cache engine's semantics and request limits. Every default is stated on its property.</summary>
public sealed class CacheOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Cache";

    /// <summary>
    /// Cosine similarity a semantic hit needs when a Get does not say. Default: 0.90 (on qqp-dev it gives the precision
    /// recorded in docs/benchmarks.md; a wrong cached answer is worse than a miss, so the default leans to precision).
    /// </summary>
    public float DefaultThreshold { get; set; } = 0.90f;

    /// <summary>Most matches one Get may ask for (<c>top_k</c>). Default: 100.</summary>
    public int MaxTopK { get; set; } = 100;

    /// <summary>Longest prompt (or matched message), in characters. Default: 131,072 (128 Ki).</summary>
    public int MaxPromptChars { get; set; } = 128 * 1024;

    /// <summary>Longest response, in characters. Default: 262,144 (256 Ki).</summary>
    public int MaxResponseChars { get; set; } = 256 * 1024;

    /// <summary>Most attributes per request. Default: 32.</summary>
    public int MaxAttributes { get; set; } = 32;

    /// <summary>Longest attribute key, in characters. Default: 128.</summary>
    public int MaxAttributeKeyChars { get; set; } = 128;

    /// <summary>Longest attribute value, in characters. Default: 1,024.</summary>
    public int MaxAttributeValueChars { get; set; } = 1024;

    /// <summary>Most messages per request. Default: 256.</summary>
    public int MaxMessages { get; set; } = 256;

    /// <summary>Most characters in all messages of a request together. Default: 1,048,576 (1 Mi).</summary>
    public int MaxConversationChars { get; set; } = 1024 * 1024;

    /// <summary>Largest caller-supplied vector. Default: 4,096 dimensions.</summary>
    public int MaxVectorDimension { get; set; } = 4096;

    /// <summary>Most entries in one SetMany. Default: 1,000.</summary>
    public int MaxSetManyEntries { get; set; } = 1000;

    /// <summary>
    /// Let prompts longer than the model's window match semantically on their truncated embedding. Default: false —
    /// such prompts match exactly only, since two long prompts that differ after the window would embed alike.
    /// </summary>
    public bool SemanticMatchOnTruncatedPrompts { get; set; }

    /// <summary>
    /// Prices in US dollars per million tokens, by model name exactly as Sets report it in their usage, for
    /// <c>cost_saved_usd</c>. Default here: none; the server ships a table of list prices in its appsettings.json, which
    /// configuration extends and overrides entry by entry. Tokens saved of a model not in it are counted as unpriced.
    /// </summary>
    public Dictionary<string, ModelPrice> ModelPrices { get; } = new(StringComparer.Ordinal);

    /// <summary>When <see cref="ModelPrices"/> were taken (free text, e.g. <c>2025-08-15</c>), reported with the build. Default: none.</summary>
    public string? ModelPricesAsOf { get; set; }

    /// <summary>Every invalid value, each as <c>Cache:Key</c> with the value and the allowed range; empty when all are valid.</summary>
    public IReadOnlyList<string> FindProblems()
    {
        var problems = new List<string>();
        if (!float.IsFinite(DefaultThreshold) || DefaultThreshold is < -1f or > 1f)
        {
            problems.Add($"Cache:DefaultThreshold is {DefaultThreshold.ToString(CultureInfo.InvariantCulture)}; it must be between -1 and 1.");
        }

        Check(problems, MaxTopK, 1, 10_000, nameof(MaxTopK));
        Check(problems, MaxPromptChars, 1, 16 << 20, nameof(MaxPromptChars));
        Check(problems, MaxResponseChars, 1, 64 << 20, nameof(MaxResponseChars));
        Check(problems, MaxAttributes, 0, 1024, nameof(MaxAttributes));
        Check(problems, MaxAttributeKeyChars, 1, 65_536, nameof(MaxAttributeKeyChars));
        Check(problems, MaxAttributeValueChars, 0, 1 << 20, nameof(MaxAttributeValueChars));
        Check(problems, MaxMessages, 1, 65_536, nameof(MaxMessages));
        Check(problems, MaxConversationChars, 1, 64 << 20, nameof(MaxConversationChars));
        Check(problems, MaxVectorDimension, 1, 65_536, nameof(MaxVectorDimension));
        Check(problems, MaxSetManyEntries, 1, 100_000, nameof(MaxSetManyEntries));
        foreach ((string model, ModelPrice price) in ModelPrices)
        {
            if (!(price.InputPerMillion >= 0) || !(price.OutputPerMillion >= 0))
            {
                problems.Add($"Cache:ModelPrices:{model} has a negative or missing price (InputPerMillion and OutputPerMillion, US dollars).");
            }
        }

        return problems;
    }

    /// <summary>Throws naming every invalid value (see <see cref="FindProblems"/>).</summary>
    /// <exception cref="ArgumentException">At least one value is invalid; the message lists them all.</exception>
    public void Validate()
    {
        IReadOnlyList<string> problems = FindProblems();
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", problems));
        }
    }

    private static void Check(List<string> problems, int value, int min, int max, string name)
    {
        if (value < min || value > max)
        {
            problems.Add($"Cache:{name} is {value}; it must be between {min} and {max}.");
        }
    }
}

/// <summary>What a model's tokens cost, for savings accounting.</summary>
public sealed class ModelPrice
{
    /// <summary>US dollars per million input (prompt) tokens.</summary>
    public double InputPerMillion { get; set; }

    /// <summary>US dollars per million output (completion) tokens.</summary>
    public double OutputPerMillion { get; set; }
}
