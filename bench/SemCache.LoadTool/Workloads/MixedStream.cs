using SemCache.LoadTool.Data;

namespace SemCache.LoadTool.Workloads;

/// <summary>A question that users ask in two phrasings: the first is asked more often, the second is its rewording.</summary>
internal sealed record Intent(string Phrasing, string Paraphrase);

/// <summary>What a mixed request is.</summary>
internal enum MixedKind
{
    /// <summary>A popular question in its usual phrasing: an exact hit once someone asked it.</summary>
    Repeat,

    /// <summary>The same question reworded: at best a semantic hit.</summary>
    Paraphrase,

    /// <summary>A question nobody asked before: should miss (any hit is a wrong answer).</summary>
    New,
}

/// <param name="Kind">Which of the three it is.</param>
/// <param name="Intent">The intent's index, or a negative number unique to a new prompt.</param>
/// <param name="Prompt">The text sent.</param>
internal sealed record MixedRequest(MixedKind Kind, int Intent, string Prompt);

/// <summary>
/// The request stream of an LLM app in front of a cache: each request is, with probability
/// <c>newFraction</c>, a question never asked before; otherwise an intent drawn by Zipf popularity, sent reworded with
/// probability <c>paraphraseFraction</c> and in its usual phrasing otherwise. Deterministic for a seed.
/// Not thread-safe: callers serialise <see cref="Next"/> (it is cheap next to a request).
/// </summary>
internal sealed class MixedStream
{
    private readonly IReadOnlyList<Intent> _intents;
    private readonly IReadOnlyList<string> _newPrompts;
    private readonly double _newFraction;
    private readonly double _paraphraseFraction;
    private readonly Random _random;
    private readonly ZipfGenerator _zipf;
    private int _nextNew;

    public MixedStream(IReadOnlyList<Intent> intents, IReadOnlyList<string> newPrompts, double zipfExponent, double newFraction, double paraphraseFraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(intents);
        ArgumentNullException.ThrowIfNull(newPrompts);
        if (intents.Count == 0)
        {
            throw new ArgumentException("the stream needs at least one intent", nameof(intents));
        }

        if (newFraction is < 0 or > 1 || paraphraseFraction is < 0 or > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(newFraction), "fractions must lie in [0, 1]");
        }

        if (newFraction > 0 && newPrompts.Count == 0)
        {
            throw new ArgumentException("new prompts are asked for but none were given", nameof(newPrompts));
        }

        _intents = intents;
        _newPrompts = newPrompts;
        _newFraction = newFraction;
        _paraphraseFraction = paraphraseFraction;
        _random = new Random(seed);
        _zipf = new ZipfGenerator(intents.Count, zipfExponent, _random);
    }

    /// <summary>New prompts were used up and the pool started over: later "new" prompts are in fact repeats.</summary>
    public bool NewPromptsWrapped { get; private set; }

    public MixedRequest Next()
    {
        if (_random.NextDouble() < _newFraction)
        {
            int index = _nextNew++;
            if (index >= _newPrompts.Count)
            {
                NewPromptsWrapped = true;
            }

            int poolIndex = index % _newPrompts.Count;
            return new MixedRequest(MixedKind.New, -1 - poolIndex, _newPrompts[poolIndex]);
        }

        int intent = _zipf.Next();
        return _random.NextDouble() < _paraphraseFraction
            ? new MixedRequest(MixedKind.Paraphrase, intent, _intents[intent].Paraphrase)
            : new MixedRequest(MixedKind.Repeat, intent, _intents[intent].Phrasing);
    }

    /// <summary>
    /// Intents from the labelled duplicates of a pair file (q1 the usual phrasing, q2 the rewording), and new prompts
    /// from the non-duplicate rows' q2, keeping only texts that belong to no intent so a "new" prompt is really new.
    /// </summary>
    public static (List<Intent> Intents, List<string> NewPrompts) FromPairs(IReadOnlyList<LabelledPair> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var intents = new List<Intent>();
        foreach (LabelledPair pair in pairs.Where(p => p.IsDuplicate))
        {
            string first = PromptNormalizer.Normalize(pair.First), second = PromptNormalizer.Normalize(pair.Second);
            if (first != second && !seen.Contains(first) && !seen.Contains(second))
            {
                seen.Add(first);
                seen.Add(second);
                intents.Add(new Intent(pair.First, pair.Second));
            }
        }

        var newPrompts = new List<string>();
        foreach (LabelledPair pair in pairs.Where(p => !p.IsDuplicate))
        {
            if (seen.Add(PromptNormalizer.Normalize(pair.Second)))
            {
                newPrompts.Add(pair.Second);
            }
        }

        return (intents, newPrompts);
    }
}
