using SemCache.LoadTool.Data;
using SemCache.LoadTool.Load;
using SemCache.LoadTool.Quality;
using SemCache.Protocol.V1;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// The labelled-pair protocol shared by pairs, calibrate and gptcache: every row's q1 is preloaded, then each row's q2
/// is looked up once, and the answer is scored against the row's label and its own q1's entry.
/// </summary>
internal static class PairQueries
{
    /// <summary>The outcome of one lookup pass: one scored query per row, in row order.</summary>
    public static ScoredQuery Score(GetResponse response, LabelledPair pair, IReadOnlyDictionary<string, string> ids)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(pair);
        ArgumentNullException.ThrowIfNull(ids);
        if (!response.Hit)
        {
            return new ScoredQuery(null, false, pair.IsDuplicate);
        }

        Match best = response.Matches[0];
        string expected = PromptNormalizer.Normalize(pair.First);
        // The id decides; the text is the fallback for an entry replaced under the same exact key after the preload.
        bool matchedExpected = (ids.TryGetValue(expected, out string? id) && id == best.Id) || string.Equals(best.Prompt, expected, StringComparison.Ordinal);
        bool identicalText = !matchedExpected && string.Equals(best.Prompt, PromptNormalizer.Normalize(pair.Second), StringComparison.Ordinal);
        return new ScoredQuery(best.Similarity, matchedExpected, pair.IsDuplicate, identicalText);
    }

    /// <summary>A Get for row q2 with the given threshold and top_k.</summary>
    public static GetRequest Request(string ns, string prompt, float minSimilarity, uint topK) =>
        new() { Namespace = ns, Prompt = prompt, MinSimilarity = minSimilarity, TopK = topK };

    /// <summary>
    /// One lookup per row under the given load shape (its count is the row count), recording latencies and hits.
    /// Warm-up sends q1 texts with a suffix, so it exercises the same embed-and-search path without answering any
    /// measured query in advance.
    /// </summary>
    public static async Task<ScoredQuery[]> RunAsync(BenchContext context, string title, IReadOnlyList<LabelledPair> pairs, IReadOnlyDictionary<string, string> ids, float minSimilarity, uint topK, LoadShape shape, TimeSpan warmup, LatencyRecorder latencies, HitTally? tally, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(pairs);
        var scored = new ScoredQuery[pairs.Count];
        var client = context.Connection.Client;
        string ns = context.Namespace;
        await context.RunLoadAsync(
            title,
            shape,
            warmup,
            async (sequence, token) =>
            {
                string prompt = pairs[(int)(sequence % pairs.Count)].First + " (warm-up)";
                await client.GetAsync(Request(ns, prompt, minSimilarity, topK), cancellationToken: token).ConfigureAwait(false);
            },
            async (sequence, token) =>
            {
                LabelledPair pair = pairs[(int)sequence];
                GetResponse response = await client.GetAsync(Request(ns, pair.Second, minSimilarity, topK), cancellationToken: token).ConfigureAwait(false);
                tally?.Count(response);
                scored[sequence] = Score(response, pair, ids);
            },
            latencies,
            cancellationToken).ConfigureAwait(false);
        return scored;
    }

    /// <summary>A short extra pass (no warm-up, no latency report) that measures the counts at one threshold.</summary>
    public static async Task<QualityCounts> MeasureAtAsync(BenchContext context, IReadOnlyList<LabelledPair> pairs, IReadOnlyDictionary<string, string> ids, float threshold, int concurrency, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(pairs);
        var scored = new ScoredQuery[pairs.Count];
        var client = context.Connection.Client;
        PhaseResult phase = await context.Progress.RunAsync($"check at threshold {threshold:0.0000}", pairs.Count, null, sink => LoadDriver.RunAsync(
            new LoadShape(concurrency, null, pairs.Count, null),
            async (sequence, token) =>
            {
                LabelledPair pair = pairs[(int)sequence];
                GetResponse response = await client.GetAsync(Request(context.Namespace, pair.Second, threshold, 1), cancellationToken: token).ConfigureAwait(false);
                scored[sequence] = Score(response, pair, ids);
            },
            null,
            sink,
            cancellationToken)).ConfigureAwait(false);
        if (phase.Errors > 0)
        {
            throw new InvalidOperationException($"{phase.Errors} lookups failed at threshold {threshold}: {phase.FirstError}");
        }

        // Every recorded similarity is already a server-decided hit: count them all.
        return QualityCurve.CountsAt(scored, float.NegativeInfinity);
    }
}
