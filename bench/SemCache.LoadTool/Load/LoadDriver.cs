using System.Diagnostics;
using Grpc.Core;

namespace SemCache.LoadTool.Load;

/// <summary>How much load to apply and for how long.</summary>
/// <param name="Concurrency">Closed loop: workers, each sending its next request when the last one returns. Fixed rate: the most requests in flight.</param>
/// <param name="RatePerSecond">Null for closed loop; otherwise requests are sent on a fixed schedule at this rate.</param>
/// <param name="Count">Stop after this many requests (null: by duration).</param>
/// <param name="Duration">Stop after this long (null: by count).</param>
internal sealed record LoadShape(int Concurrency, double? RatePerSecond, long? Count, TimeSpan? Duration)
{
    public string Describe() =>
        (RatePerSecond is double rate ? $"fixed rate {rate:0.#}/s (at most {Concurrency} in flight)" : $"closed loop, {Concurrency} workers")
        + (Count is long n ? $", {n:N0} requests" : $", {Duration!.Value.TotalSeconds:0.#} s");
}

/// <summary>The outcome of one load phase.</summary>
/// <param name="Requests">Requests completed.</param>
/// <param name="Errors">Requests failed.</param>
/// <param name="Elapsed">Wall time of the phase.</param>
/// <param name="FirstError">The first failure's status and detail.</param>
/// <param name="SendLag">Fixed rate only: how late each request left against its schedule (timer resolution, a full
/// in-flight window, a busy client). It is part of the latencies, as it is for users; shown apart so a reader can tell
/// the load generator's share from the server's.</param>
internal sealed record PhaseResult(long Requests, long Errors, TimeSpan Elapsed, string? FirstError, LatencySummary? SendLag = null)
{
    public double Throughput => Elapsed.TotalSeconds > 0 ? Requests / Elapsed.TotalSeconds : 0;
}

/// <summary>
/// Applies a workload's requests with a given shape and records each one's latency.
/// Closed loop (the default) measures each request from its own send. Fixed rate measures from the time the schedule
/// meant to send it, so a slow response that delays later sends is charged to those requests too (no coordinated
/// omission: a stall shows in the percentiles as the users waiting behind it would feel it).
/// </summary>
internal static class LoadDriver
{
    /// <param name="shape">Load shape.</param>
    /// <param name="operation">Sends request number <c>sequence</c> (0-based within the phase).</param>
    /// <param name="latencies">Where latencies go; null for a warm-up.</param>
    /// <param name="progress">Called with the number of finished requests as the phase goes.</param>
    /// <param name="latenciesOf">Optional: a second recorder for request <c>sequence</c>, measured the same way (from the
    /// intended send time at a fixed rate), for workloads that mix kinds of request and report each kind apart.</param>
    public static async Task<PhaseResult> RunAsync(LoadShape shape, Func<long, CancellationToken, Task> operation, LatencyRecorder? latencies, IProgressSink progress, CancellationToken cancellationToken, Func<long, LatencyRecorder?>? latenciesOf = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(progress);
        var state = new PhaseState();
        LatencyRecorder? sendLag = shape.RatePerSecond is null ? null : new LatencyRecorder();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (shape.Duration is TimeSpan duration)
        {
            deadline.CancelAfter(duration);
        }

        long started = Stopwatch.GetTimestamp();
        using var reporter = new Timer(_ => progress.Report(Interlocked.Read(ref state.Completed), Stopwatch.GetElapsedTime(started)), null, 200, 200);
        if (shape.RatePerSecond is double rate)
        {
            await RunFixedRateAsync(shape, rate, operation, latencies, latenciesOf, sendLag!, state, deadline.Token).ConfigureAwait(false);
        }
        else
        {
            Task[] workers = [.. Enumerable.Range(0, shape.Concurrency).Select(_ => Task.Run(() => WorkerAsync(shape, operation, latencies, latenciesOf, state, deadline.Token), CancellationToken.None))];
            await Task.WhenAll(workers).ConfigureAwait(false);
        }

        TimeSpan elapsed = Stopwatch.GetElapsedTime(started);
        cancellationToken.ThrowIfCancellationRequested();
        progress.Report(state.Completed, elapsed);
        return new PhaseResult(state.Completed, state.Errors, elapsed, state.FirstError, sendLag?.Summarize());
    }

    private static async Task WorkerAsync(LoadShape shape, Func<long, CancellationToken, Task> operation, LatencyRecorder? latencies, Func<long, LatencyRecorder?>? latenciesOf, PhaseState state, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            long sequence = Interlocked.Increment(ref state.Issued) - 1;
            if (shape.Count is long count && sequence >= count)
            {
                return;
            }

            long sent = Stopwatch.GetTimestamp();
            await SendOneAsync(sequence, sent, operation, latencies, latenciesOf, state).ConfigureAwait(false);
        }
    }

    private static async Task RunFixedRateAsync(LoadShape shape, double rate, Func<long, CancellationToken, Task> operation, LatencyRecorder? latencies, Func<long, LatencyRecorder?>? latenciesOf, LatencyRecorder sendLag, PhaseState state, CancellationToken stop)
    {
        using var inFlight = new SemaphoreSlim(shape.Concurrency);
        var running = new List<Task>();
        long start = Stopwatch.GetTimestamp();
        double ticksPerRequest = Stopwatch.Frequency / rate;
        try
        {
            for (long sequence = 0; shape.Count is not long count || sequence < count; sequence++)
            {
                // Behind schedule nothing below waits, so check the deadline here too.
                stop.ThrowIfCancellationRequested();
                long intended = start + (long)(sequence * ticksPerRequest);
                TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), intended);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, stop).ConfigureAwait(false);
                }

                // Waiting for a free slot delays the send but not the intended time: that wait is part of the latency.
                await inFlight.WaitAsync(stop).ConfigureAwait(false);
                long issued = sequence;
                running.Add(Task.Run(
                    async () =>
                    {
                        try
                        {
                            sendLag.RecordSince(intended);
                            await SendOneAsync(issued, intended, operation, latencies, latenciesOf, state).ConfigureAwait(false);
                        }
                        finally
                        {
                            inFlight.Release();
                        }
                    },
                    CancellationToken.None));
                if (running.Count > 4096)
                {
                    running.RemoveAll(t => t.IsCompleted);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The duration ran out while waiting to send.
        }

        await Task.WhenAll(running).ConfigureAwait(false);
    }

    private static async Task SendOneAsync(long sequence, long measuredFrom, Func<long, CancellationToken, Task> operation, LatencyRecorder? latencies, Func<long, LatencyRecorder?>? latenciesOf, PhaseState state)
    {
        try
        {
            // A request already sent is allowed to finish when the duration ends: cutting it off would record a false error.
            await operation(sequence, CancellationToken.None).ConfigureAwait(false);
            latencies?.RecordSince(measuredFrom);
            latenciesOf?.Invoke(sequence)?.RecordSince(measuredFrom);
            Interlocked.Increment(ref state.Completed);
        }
        catch (RpcException e)
        {
            Interlocked.Increment(ref state.Errors);
            Interlocked.CompareExchange(ref state.FirstError, $"{e.StatusCode}: {e.Status.Detail}", null);
        }
    }

    private sealed class PhaseState
    {
        public long Issued;
        public long Completed;
        public long Errors;
        public string? FirstError;
    }
}

/// <summary>Receives progress: requests finished and time elapsed.</summary>
internal interface IProgressSink
{
    void Report(long completed, TimeSpan elapsed);
}
