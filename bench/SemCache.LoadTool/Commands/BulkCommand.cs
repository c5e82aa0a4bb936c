using System.Diagnostics;
using System.Globalization;
using SemCache.LoadTool.Reports;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// bulk: a bulk load of a texts file with SetMany (--batch entries a call, default 500; --concurrency calls in flight,
/// default 2) into the run's own namespace, dropped at the end: entries stored per second.
/// </summary>
internal static class BulkCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        Flags flags = Flags.Parse(args, "no-progress", "keep-namespace");
        using BenchContext context = BenchContext.Create("bulk", args, flags);
        IReadOnlyList<string> texts = TextSlice.Read(context);
        int batch = flags.Int("batch", 500);
        int parallelism = flags.Int("concurrency", 2);
        flags.ThrowOnUnused();
        if (batch < 1 || parallelism < 1)
        {
            throw new UsageException("--batch and --concurrency must be at least 1");
        }

        context.Result.Settings["batch"] = batch.ToString(CultureInfo.InvariantCulture);
        context.Result.Settings["concurrency"] = parallelism.ToString(CultureInfo.InvariantCulture);
        long started = Stopwatch.GetTimestamp();
        Dictionary<string, string> ids = await context.Progress.RunAsync(
            $"bulk load {texts.Count:N0} entries (SetMany of {batch}, {parallelism} in flight)",
            texts.Count,
            null,
            sink => context.Connection.PreloadAsync(context.Namespace, texts, batch, parallelism, sink, cancellationToken)).ConfigureAwait(false);
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        context.Result.Preload = new PreloadReport(ids.Count, Math.Round(seconds, 2), Math.Round(ids.Count / seconds, 1));
        return await context.FinishAsync(null).ConfigureAwait(false);
    }
}
