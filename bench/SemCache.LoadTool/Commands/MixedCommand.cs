using System.Diagnostics;
using System.Globalization;
using SemCache.LoadTool.Data;
using SemCache.LoadTool.Load;
using SemCache.LoadTool.Reports;
using SemCache.LoadTool.Workloads;
using SemCache.Protocol.V1;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// mixed: what an LLM app sends. A Zipf stream of popular questions, asked verbatim or reworded, and new questions;
/// each request is a Get, and a miss is followed by a Set of the "model's answer", as the app would do. The cache
/// starts empty in the run's namespace and fills up as the stream goes (the warm-up fills it first).
/// </summary>
internal static class MixedCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        Flags flags = Flags.Parse(args, "no-progress", "keep-namespace");
        using BenchContext context = BenchContext.Create("mixed", args, flags);
        IReadOnlyList<LabelledPair> pairs = context.ReadPairs(DataFiles.QqpDev, null);
        float threshold = (float)flags.Double("threshold", 0.9);
        uint topK = (uint)flags.Int("top-k", 1);
        double zipf = flags.Double("zipf", 1.0);
        double newFraction = flags.Double("new-fraction", 0.2);
        double paraphraseFraction = flags.Double("paraphrase-fraction", 0.3);
        LoadShape shape = context.ReadShape(null, 10);
        TimeSpan warmup = context.ReadWarmup();
        flags.ThrowOnUnused();
        context.Result.Settings["threshold"] = threshold.ToString(CultureInfo.InvariantCulture);
        foreach ((string key, double value) in new[] { ("zipf", zipf), ("new_fraction", newFraction), ("paraphrase_fraction", paraphraseFraction) })
        {
            context.Result.Settings[key] = value.ToString(CultureInfo.InvariantCulture);
        }

        context.Result.Settings["top_k"] = topK.ToString(CultureInfo.InvariantCulture);
        context.Result.Settings["seed"] = context.Seed.ToString(CultureInfo.InvariantCulture);

        (List<Intent> intents, List<string> newPrompts) = MixedStream.FromPairs(pairs);
        if (intents.Count == 0)
        {
            throw new UsageException("the pair file has no labelled duplicates to build intents from");
        }

        var stream = new MixedStream(intents, newPrompts, zipf, newFraction, paraphraseFraction, context.Seed);
        // Which question each text belongs to, to judge whether a hit answered the question that was asked.
        var intentOfText = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < intents.Count; i++)
        {
            intentOfText.TryAdd(PromptNormalizer.Normalize(intents[i].Phrasing), i);
            intentOfText.TryAdd(PromptNormalizer.Normalize(intents[i].Paraphrase), i);
        }

        for (int i = 0; i < newPrompts.Count; i++)
        {
            intentOfText.TryAdd(PromptNormalizer.Normalize(newPrompts[i]), -1 - i);
        }

        var client = context.Connection.Client;
        var latencies = new LatencyRecorder();
        var getLatencies = new LatencyRecorder();
        var setLatencies = new LatencyRecorder();
        var tally = new HitTally();
        var byKind = new long[3, 6]; // kind × (requests, exact, semantic, misses, same intent, other intent)

        async Task SendAsync(bool measured, CancellationToken token)
        {
            MixedRequest request;
            lock (stream)
            {
                request = stream.Next();
            }

            long started = Stopwatch.GetTimestamp();
            GetResponse response = await client.GetAsync(new GetRequest { Namespace = context.Namespace, Prompt = request.Prompt, MinSimilarity = threshold, TopK = topK }, cancellationToken: token).ConfigureAwait(false);
            if (measured)
            {
                getLatencies.RecordSince(started);
                tally.Count(response);
                int kind = (int)request.Kind;
                Interlocked.Increment(ref byKind[kind, 0]);
                if (response.Hit)
                {
                    Match best = response.Matches[0];
                    Interlocked.Increment(ref byKind[kind, best.Exact ? 1 : 2]);
                    bool sameIntent = intentOfText.TryGetValue(best.Prompt, out int hitIntent) && hitIntent == request.Intent;
                    Interlocked.Increment(ref byKind[kind, sameIntent ? 4 : 5]);
                }
                else
                {
                    Interlocked.Increment(ref byKind[kind, 3]);
                }
            }

            if (!response.Hit)
            {
                // The app calls its model and stores the answer.
                long setStarted = Stopwatch.GetTimestamp();
                await client.SetAsync(new SetRequest { Namespace = context.Namespace, Prompt = request.Prompt, Response = $"answer to question {request.Intent}" }, cancellationToken: token).ConfigureAwait(false);
                if (measured)
                {
                    setLatencies.RecordSince(setStarted);
                    tally.CountSet();
                }
            }
        }

        await context.RunLoadAsync("mixed stream", shape, warmup, (_, token) => SendAsync(false, token), (_, token) => SendAsync(true, token), latencies, cancellationToken, getLatencies, setLatencies).ConfigureAwait(false);

        context.Result.Hits = tally.ToReport();
        string[] kindNames = ["repeat", "paraphrase", "new"];
        context.Result.Mixed = new MixedQualityReport(
            [.. Enumerable.Range(0, 3).Select(k => new MixedKindReport(kindNames[k], byKind[k, 0], byKind[k, 1], byKind[k, 2], byKind[k, 3], byKind[k, 4], byKind[k, 5]))],
            intents.Count,
            zipf,
            newFraction,
            paraphraseFraction,
            stream.NewPromptsWrapped);
        context.Result.Notes.Add("Latency of a request is its Get plus, on a miss, its Set (the model call itself is not simulated); the Get and Set rows give each alone.");
        context.Result.Notes.Add("A hit on another question may still be a fair answer where the data set has unlabelled duplicates.");
        return await context.FinishAsync(latencies).ConfigureAwait(false);
    }
}
