using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Xunit;

namespace SemCache.Storage.Tests;

/// <summary>
/// Kills a writing child process with SIGKILL and checks what survives. The child (SemCache.Storage.CrashHost) prints
/// "ACK writer n id" after each SetAsync returns, so every printed line is an acknowledged Set.
/// </summary>
public sealed class CrashTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Strict_keeps_every_acknowledged_set_after_SIGKILL()
    {
        using var dir = new TempDirectory();
        var run = await RunAndKillAsync(dir.Path, DurabilityMode.Strict, writers: 8, delayMs: 0, commitMs: 100, ackTarget: 1500);

        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path, DurabilityMode.Strict), cancellationToken: Ct);

        Assert.Empty(store.Recovery.Problems);
        var missing = run.Acks.Where(a => !Present(store, a)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {run.Acks.Count} acknowledged Sets lost in Strict mode, e.g. {string.Join(", ", missing.Take(5))}");
        Assert.True(store.Count >= run.Acks.Count);
    }

    [Fact]
    public async Task Periodic_loses_at_most_the_commit_window_after_SIGKILL()
    {
        using var dir = new TempDirectory();
        const int commitMs = 100;
        var run = await RunAndKillAsync(dir.Path, DurabilityMode.Periodic, writers: 4, delayMs: 1, commitMs: commitMs, ackTarget: 3000);

        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path, DurabilityMode.Periodic), cancellationToken: Ct);

        Assert.Empty(store.Recovery.Problems);
        var missing = run.Acks.Where(a => !Present(store, a)).ToList();

        // Per writer, the survivors are a prefix of its acknowledged Sets: the log is committed in order.
        foreach (var writer in run.Acks.GroupBy(a => a.Writer))
        {
            var lostFrom = writer.Where(a => missing.Contains(a)).Select(a => a.N).DefaultIfEmpty(int.MaxValue).Min();
            Assert.All(writer.Where(a => a.N > lostFrom), a => Assert.Contains(a, missing));
        }

        // Whatever was lost was acknowledged within the commit window before the kill. The window is widened by a
        // generous allowance for scheduling on a loaded 2-core machine; losing older acknowledged Sets fails the test.
        var allowance = TimeSpan.FromMilliseconds(commitMs) + TimeSpan.FromSeconds(1.5);
        var tooOld = missing.Where(a => run.KilledAt - a.ReceivedAt > allowance).ToList();
        Assert.True(tooOld.Count == 0, $"{tooOld.Count} lost Sets were acknowledged more than {allowance.TotalMilliseconds} ms before the kill");
        Assert.True(missing.Count < run.Acks.Count / 2, $"lost {missing.Count} of {run.Acks.Count}");
    }

    private static bool Present(EntryStore store, Ack ack)
    {
        var got = store.GetByIdAsync(ack.Id, Ct).AsTask().GetAwaiter().GetResult();
        return got is not null && got.Prompt == $"w{ack.Writer}-{ack.N}";
    }

    internal readonly record struct Ack(int Writer, int N, ulong Id, TimeSpan ReceivedAt);

    private sealed record CrashRun(List<Ack> Acks, TimeSpan KilledAt);

    private static async Task<CrashRun> RunAndKillAsync(string directory, DurabilityMode mode, int writers, int delayMs, int commitMs, int ackTarget)
    {
        var host = Path.Combine(AppContext.BaseDirectory, "SemCache.Storage.CrashHost.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { host, directory, mode.ToString(), writers.ToString(CultureInfo.InvariantCulture), delayMs.ToString(CultureInfo.InvariantCulture), commitMs.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }

        var clock = Stopwatch.StartNew();
        var acks = new ConcurrentQueue<Ack>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var process = new Process { StartInfo = start };
        var stderr = new ConcurrentQueue<string>();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                stderr.Enqueue(e.Data);
            }
        };
        process.Start();
        process.BeginErrorReadLine();
        var reader = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line == "READY")
                {
                    ready.TrySetResult();
                    continue;
                }

                var parts = line.Split(' ');
                if (parts.Length == 4 && parts[0] == "ACK")
                {
                    acks.Enqueue(new Ack(int.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture), ulong.Parse(parts[3], CultureInfo.InvariantCulture), clock.Elapsed));
                    if (acks.Count >= ackTarget)
                    {
                        enough.TrySetResult();
                    }
                }
            }

            ready.TrySetResult();
            enough.TrySetResult();
        });

        await ready.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        await enough.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.False(process.HasExited, "the crash host exited before it was killed: " + string.Join(" | ", stderr));
        var killedAt = clock.Elapsed;
        process.Kill(entireProcessTree: true); // SIGKILL on Linux
        await process.WaitForExitAsync(Ct);
        await reader; // every ACK line written before the kill is still read
        Assert.True(acks.Count >= ackTarget, "too few acknowledgements: " + string.Join(" | ", stderr));
        return new CrashRun([.. acks], killedAt);
    }
}
