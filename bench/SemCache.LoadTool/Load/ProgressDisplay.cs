using System.Globalization;
using Spectre.Console;

namespace SemCache.LoadTool.Load;

/// <summary>
/// Shows a phase's progress: a Spectre.Console progress bar on a terminal, and a plain line every few seconds when the
/// output is redirected (CI logs, files), where redrawing a bar would only fill the log with escape codes.
/// </summary>
internal sealed class ProgressDisplay(bool enabled)
{
    private readonly bool _interactive = enabled && AnsiConsole.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;

    /// <param name="title">What the phase is.</param>
    /// <param name="total">Requests the phase will make, when known.</param>
    /// <param name="duration">How long the phase will run, when it is bounded by time.</param>
    /// <param name="phase">The phase, given a sink to report to.</param>
    public async Task<T> RunAsync<T>(string title, long? total, TimeSpan? duration, Func<IProgressSink, Task<T>> phase)
    {
        ArgumentNullException.ThrowIfNull(phase);
        if (!_interactive)
        {
            Console.WriteLine($"{title}...");
            return await phase(new LineSink(title, total, duration)).ConfigureAwait(false);
        }

        T result = default!;
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                ProgressTask task = context.AddTask(Markup.Escape(title), maxValue: total ?? (duration?.TotalSeconds ?? 1));
                result = await phase(new BarSink(task, total is not null)).ConfigureAwait(false);
                task.Value = task.MaxValue;
            }).ConfigureAwait(false);
        return result;
    }

    private sealed class BarSink(ProgressTask task, bool byCount) : IProgressSink
    {
        public void Report(long completed, TimeSpan elapsed) =>
            task.Value = Math.Min(task.MaxValue, byCount ? completed : elapsed.TotalSeconds);
    }

    private sealed class LineSink(string title, long? total, TimeSpan? duration) : IProgressSink
    {
        private long _lastPrintTicks;

        public void Report(long completed, TimeSpan elapsed)
        {
            // Every 5 s at most: enough to see a stall in a CI log.
            long now = Environment.TickCount64;
            if (now - Interlocked.Read(ref _lastPrintTicks) < 5000)
            {
                return;
            }

            Interlocked.Exchange(ref _lastPrintTicks, now);
            string of = total is long t ? $"/{t:N0}" : duration is TimeSpan d ? $" in {elapsed.TotalSeconds:0}/{d.TotalSeconds:0} s" : string.Empty;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {title}: {completed:N0}{of} ({completed / Math.Max(elapsed.TotalSeconds, 1e-3):0}/s)"));
        }
    }
}
