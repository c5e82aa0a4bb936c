using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SemCache.Embedding;

namespace SemCache.Evaluation;

/// <summary>
/// Embedding speed on fixed workloads, each run for a fixed time: one short query at a time (direct and through the
/// batcher), and 32 concurrent callers in a closed loop (one model call each, and through the batcher). The same
/// workloads run on other stacks in bench/peers/node/embed-peers.mjs, so the two can be compared side by side.
/// </summary>
internal static class Speed
{
    internal const string Short = "How do I reset my password if I no longer have access to my email?";

    private static readonly string[] Subjects = ["my password", "a python list", "the kitchen sink", "a flat tyre", "my resume", "the router", "a git branch", "my taxes", "sourdough bread", "a cover letter", "the thermostat", "a docker image", "my phone battery", "a job interview", "the lawn mower", "an excel pivot table"];

    private static readonly string[] Frames = ["How do I fix {0}?", "What is the best way to clean {0} quickly?", "Can you explain how {0} works in simple terms?", "Why does {0} keep failing after the latest update?"];

    internal static readonly string[] Mixed = [.. Subjects.SelectMany(s => Frames.Select(f => string.Format(CultureInfo.InvariantCulture, f, s)))];

    public static async Task<int> RunAsync(string[] args)
    {
        double seconds = 10;
        EmbeddingOptions options = ModelFlags.Take(ref args);
        int index = Array.IndexOf(args, "--seconds");
        if (index >= 0 && index + 1 < args.Length)
        {
            seconds = double.Parse(args[index + 1], CultureInfo.InvariantCulture);
        }

        index = Array.IndexOf(args, "--window-us");
        if (index >= 0 && index + 1 < args.Length)
        {
            options.BatchWindow = TimeSpan.FromMicroseconds(int.Parse(args[index + 1], CultureInfo.InvariantCulture));
        }

        index = Array.IndexOf(args, "--threads");
        if (index >= 0 && index + 1 < args.Length)
        {
            options.IntraOpThreads = int.Parse(args[index + 1], CultureInfo.InvariantCulture);
        }

        await using TextEmbedder embedder = TextEmbedder.Create(options);
        TimeSpan duration = TimeSpan.FromSeconds(seconds);
        var results = new Dictionary<string, object>
        {
            ["precision"] = options.Precision.ToString(),
            ["threads"] = options.IntraOpThreads == 0 ? Environment.ProcessorCount : options.IntraOpThreads,
            ["window_us"] = options.BatchWindow.TotalMicroseconds,
            ["tokens"] = embedder.Tokenizer.Tokenize(Short).Ids.Length,
        };

        await ClosedLoop(embedder, 32, batched: true, TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
        results["lone_direct_ms"] = Math.Round(Sequential(duration, () => embedder.Embed(Short), out long calls), 3);
        // Processor time per call: on a shared machine, the cost of a call that other processes' load does not inflate
        // (with --threads 1; more intra-op threads spin while they wait, which counts here too).
        results["lone_direct_cpu_ms"] = Math.Round((Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds / (calls + 1), 3);
        results["lone_batched_ms"] = Math.Round(await SequentialAsync(duration, () => embedder.EmbedAsync(Short)).ConfigureAwait(false), 3);
        results["plain_32_callers_per_s"] = Math.Round(await ClosedLoop(embedder, 32, batched: false, duration).ConfigureAwait(false), 1);
        long batches = embedder.BatchCount, texts = embedder.BatchedTextCount;
        results["batched_32_callers_per_s"] = Math.Round(await ClosedLoop(embedder, 32, batched: true, duration).ConfigureAwait(false), 1);
        results["batched_mean_batch"] = Math.Round((double)(embedder.BatchedTextCount - texts) / Math.Max(1, embedder.BatchCount - batches), 1);
        Console.WriteLine(JsonSerializer.Serialize(results));
        return 0;
    }

    private static double Sequential(TimeSpan duration, Action embed, out long n)
    {
        embed();
        n = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            embed();
            n++;
        }

        return clock.Elapsed.TotalMilliseconds / n;
    }

    private static async Task<double> SequentialAsync(TimeSpan duration, Func<Task<EmbeddingResult>> embed)
    {
        await embed().ConfigureAwait(false);
        long n = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            await embed().ConfigureAwait(false);
            n++;
        }

        return clock.Elapsed.TotalMilliseconds / n;
    }

    internal static async Task<double> ClosedLoop(TextEmbedder embedder, int callers, bool batched, TimeSpan duration)
    {
        long done = 0;
        var clock = Stopwatch.StartNew();
        var tasks = new Task[callers];
        for (int c = 0; c < callers; c++)
        {
            int caller = c;
            tasks[c] = Task.Run(async () =>
            {
                for (int i = caller; clock.Elapsed < duration; i += callers)
                {
                    string text = Mixed[i % Mixed.Length];
                    if (batched)
                    {
                        await embedder.EmbedAsync(text).ConfigureAwait(false);
                    }
                    else
                    {
                        embedder.Embed(text);
                    }

                    Interlocked.Increment(ref done);
                }
            });
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        return done / clock.Elapsed.TotalSeconds;
    }
}
