using System.Globalization;
using SemCache.LoadTool.Load;
using SemCache.LoadTool.Reports;
using SemCache.LoadTool.SideBySide;
using SemCache.Protocol.V1;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// knee: the mixed load of --concurrency clients (default 64; 70 % Gets, 30 % Sets, every prompt a new text of a texts
/// file) first closed-loop for --probe-seconds to measure its capacity, then at fixed rates (open loop, latency from
/// the intended send time) stepping up from a quarter of that capacity, --step-seconds each, until a step's Get p99
/// exceeds 3 × its p50 twice in a row, its rate is not sustained, or requests fail (<see cref="KneeSearch"/>).
/// </summary>
internal static class KneeCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        Flags flags = Flags.Parse(args, "no-progress", "keep-namespace");
        using BenchContext context = BenchContext.Create("knee", args, flags);
        IReadOnlyList<string> texts = TextSlice.Read(context);
        int clients = flags.Int("concurrency", 64);
        double probeSeconds = flags.Double("probe-seconds", 3);
        double stepSeconds = flags.Double("step-seconds", 8);
        int maxSteps = flags.Int("max-steps", KneeSearch.CapacityFractions.Count);
        flags.ThrowOnUnused();
        if (clients < 1 || probeSeconds <= 0 || stepSeconds <= 0)
        {
            throw new UsageException("--concurrency, --probe-seconds and --step-seconds must be positive");
        }

        foreach ((string key, string value) in new[] { ("concurrency", clients.ToString(CultureInfo.InvariantCulture)), ("probe_s", probeSeconds.ToString(CultureInfo.InvariantCulture)), ("step_s", stepSeconds.ToString(CultureInfo.InvariantCulture)), ("sets", "30 %") })
        {
            context.Result.Settings[key] = value;
        }

        var client = context.Connection.Client;
        string ns = context.Namespace;
        long nextText = -1;
        bool wrapped = false;

        // Each request takes the next text of the file, so no prompt is asked or stored twice until the file runs out.
        string NextText()
        {
            long index = Interlocked.Increment(ref nextText);
            if (index >= texts.Count)
            {
                wrapped = true;
            }

            return texts[(int)(index % texts.Count)];
        }

        Task Operation(long sequence, CancellationToken token) => KneeSearch.IsSet(sequence)
            ? client.SetAsync(new SetRequest { Namespace = ns, Prompt = NextText(), Response = "a model's answer" }, cancellationToken: token).ResponseAsync
            : client.GetAsync(new GetRequest { Namespace = ns, Prompt = NextText() }, cancellationToken: token).ResponseAsync;

        PhaseResult probe = await context.Progress.RunAsync(
            $"capacity probe (closed loop, {clients} clients)",
            null,
            TimeSpan.FromSeconds(probeSeconds),
            sink => LoadDriver.RunAsync(new LoadShape(clients, null, null, TimeSpan.FromSeconds(probeSeconds)), Operation, null, sink, cancellationToken)).ConfigureAwait(false);
        if (probe.Errors > 0 || probe.Throughput <= 0)
        {
            throw new InvalidOperationException($"the capacity probe failed: {probe.Errors} errors, first: {probe.FirstError}");
        }

        var steps = new List<KneeStep>();
        foreach (double rate in KneeSearch.Rates(probe.Throughput, maxSteps))
        {
            var all = new LatencyRecorder();
            var gets = new LatencyRecorder();
            var sets = new LatencyRecorder();
            var shape = new LoadShape(clients, rate, null, TimeSpan.FromSeconds(stepSeconds));
            PhaseResult phase = await context.Progress.RunAsync(
                $"step {steps.Count + 1}: {shape.Describe()}",
                null,
                shape.Duration,
                sink => LoadDriver.RunAsync(shape, Operation, all, sink, cancellationToken, sequence => KneeSearch.IsSet(sequence) ? sets : gets)).ConfigureAwait(false);
            // Achieved over the schedule's length, not the phase's (which includes draining the last requests): behind
            // schedule, the in-flight bound holds sends back and fewer requests complete than the schedule sent.
            var step = new KneeStep(rate, Math.Round(phase.Requests / stepSeconds, 1), phase.Requests, phase.Errors, gets.Summarize(), sets.Summarize(), phase.SendLag);
            steps.Add(step);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {rate:0}/s: achieved {step.AchievedRate:0}/s, Get p50 {step.Get.P50Us / 1000.0:0.0} ms, p99 {step.Get.P99Us / 1000.0:0.0} ms ({step.GetTailRatio:0.0}×): {KneeSearch.Judge(step)}"));
            if (!KneeSearch.ShouldContinue(steps))
            {
                break;
            }
        }

        KneeStep? knee = KneeSearch.Knee(steps);
        context.Result.Knee = new KneeReport(Math.Round(probe.Throughput, 1), clients, stepSeconds, KneeSearch.TailBound, [.. steps.Select(s => new KneeStepReport(s, KneeSearch.Judge(s)))], knee?.TargetRate);
        if (wrapped)
        {
            context.Result.Notes.Add("The texts file ran out and started over: later prompts were repeats (an exact hit for a repeated Set's text).");
        }

        if (knee is null)
        {
            context.Result.Notes.Add("No step kept within the bound: the knee lies below a quarter of the closed-loop capacity, or the machine was too noisy to tell.");
        }
        else if (KneeSearch.ShouldContinue(steps))
        {
            context.Result.Notes.Add("Every step kept within the bound: the knee is at least the highest rate tried.");
        }

        return await context.FinishAsync(null).ConfigureAwait(false);
    }
}
