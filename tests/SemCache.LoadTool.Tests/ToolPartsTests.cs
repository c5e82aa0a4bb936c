using SemCache.LoadTool.Commands;
using SemCache.LoadTool.Load;
using SemCache.LoadTool.Reports;

namespace SemCache.LoadTool.Tests;

public sealed class ToolPartsTests
{
    [Fact]
    public void FlagsParseValuesSwitchesAndPositionals()
    {
        Flags flags = Flags.Parse(["--limit", "50", "--threshold=0.85", "--no-progress", "out1"], "no-progress");

        Assert.Equal(50, flags.Int("limit", 0));
        Assert.Equal(0.85, flags.Double("threshold", 0.9));
        Assert.True(flags.Switch("no-progress"));
        Assert.Equal(8, flags.Int("concurrency", 8));
        Assert.Equal(["out1"], flags.Positionals);
        flags.ThrowOnUnused();
    }

    [Fact]
    public void FlagsRejectUnknownAndMalformed()
    {
        Flags flags = Flags.Parse(["--limt", "50"]);
        Assert.Throws<UsageException>(flags.ThrowOnUnused);
        Assert.Throws<UsageException>(() => Flags.Parse(["--limit", "many"]).Int("limit", 0));
        Assert.Throws<UsageException>(() => Flags.Parse(["--limit"]));
    }

    [Fact]
    public void LatencyPercentilesComeFromTheHistogram()
    {
        var recorder = new LatencyRecorder();
        for (int micros = 1; micros <= 1000; micros++)
        {
            recorder.RecordMicroseconds(micros);
        }

        LatencySummary summary = recorder.Summarize();
        Assert.Equal(1000, summary.Count);
        Assert.Equal(500, summary.P50Us);
        Assert.Equal(900, summary.P90Us);
        Assert.Equal(990, summary.P99Us);
        Assert.Equal(999, summary.P999Us);
        Assert.Equal(1000, summary.MaxUs);
        Assert.Equal(500.5, summary.MeanUs, 0);
    }

    [Fact]
    public void LatenciesOutsideTheRecordersRangeAreClampedNotLost()
    {
        var recorder = new LatencyRecorder();
        recorder.RecordMicroseconds(0);
        recorder.RecordMicroseconds(-5);
        recorder.RecordMicroseconds((long)TimeSpan.FromHours(1).TotalMicroseconds);

        LatencySummary summary = recorder.Summarize();
        Assert.Equal(3, summary.Count);
        Assert.Equal(1, summary.P50Us);
        Assert.Equal(600_000_000, summary.MaxUs, 600_000_000 * 1e-3); // 10 min, within the histogram's 3 digits
    }

    [Theory]
    [InlineData(null)]
    [InlineData(50_000.0)]
    public async Task DriverSendsEverySequenceNumberOnceInCountMode(double? rate)
    {
        var seen = new System.Collections.Concurrent.ConcurrentBag<long>();
        var recorder = new LatencyRecorder();
        PhaseResult result = await LoadDriver.RunAsync(
            new LoadShape(4, rate, 200, null),
            async (sequence, _) => { await Task.Yield(); seen.Add(sequence); },
            recorder,
            new NoProgress(),
            TestContext.Current.CancellationToken);

        Assert.Equal(200, result.Requests);
        Assert.Equal(0, result.Errors);
        Assert.Equal(Enumerable.Range(0, 200).Select(i => (long)i), seen.Order());
        Assert.Equal(200, recorder.Histogram.TotalCount);
        Assert.Equal(rate is null ? null : 200L, result.SendLag?.Count);
    }

    [Fact]
    public async Task DriverCountsFailedRequestsAsErrorsNotLatencies()
    {
        var recorder = new LatencyRecorder();
        PhaseResult result = await LoadDriver.RunAsync(
            new LoadShape(2, null, 10, null),
            (sequence, _) => sequence % 2 == 0 ? Task.CompletedTask : throw new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, "down")),
            recorder,
            new NoProgress(),
            TestContext.Current.CancellationToken);

        Assert.Equal(5, result.Requests);
        Assert.Equal(5, result.Errors);
        Assert.Equal("Unavailable: down", result.FirstError);
        Assert.Equal(5, recorder.Histogram.TotalCount);
    }

    [Fact]
    public void PublishedGptCacheTableIsTheOneGptCacheReports()
    {
        // GPTCache's 999-pair benchmark: every row sums to the 999 queries.
        Assert.All(GptCacheCommand.Published, row => Assert.Equal(999, row.Correct + row.Wrong + row.Misses));
        Assert.Equal([25, 77, 92], GptCacheCommand.Published.Select(p => p.Wrong));
    }

    [Fact]
    public void VerifyAcceptsACompleteRunAndNamesWhatIsMissing()
    {
        string folder = Path.Combine(Path.GetTempPath(), "semcache-bench-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var result = new RunResult { Command = "exact", CommandLine = "semcache-bench exact", StartedUtc = DateTimeOffset.UtcNow, Machine = MachineInfo.Current() };
            var recorder = new LatencyRecorder();
            recorder.RecordMicroseconds(300);
            recorder.RecordMicroseconds(900);
            result.Load = new LoadReport("closed loop", 2, 0, null, 1.0, 2.0, recorder.Summarize(), null, null, null, 0, 0);
            ResultWriter.Write(result, folder);

            Assert.Equal(["no latency.png"], VerifyCommand.Check(folder));

            Charts.LatencyDistribution(Path.Combine(folder, "latency.png"), recorder.Distribution(), 2, "test");
            Assert.Empty(VerifyCommand.Check(folder));
            Assert.Contains("| Get | 2 | 0 |", File.ReadAllText(Path.Combine(folder, "summary.md")), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void VerifyNamesEveryProblemOfABrokenRun()
    {
        string folder = Path.Combine(Path.GetTempPath(), "semcache-bench-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            var result = new RunResult { Command = "pairs", CommandLine = "semcache-bench pairs", StartedUtc = DateTimeOffset.UtcNow, Machine = MachineInfo.Current() };
            var recorder = new LatencyRecorder();
            recorder.RecordMicroseconds(300);
            recorder.RecordMicroseconds(900);
            var disordered = new LatencySummary(2, 600, 900, 900, 300, 300, 900);
            result.Load = new LoadReport("closed loop", 2, 3, "Unavailable: down", 1.0, 2.0, disordered, null, null, null, 0, 0);
            result.Files.Add("lookups.tsv"); // listed, never written
            result.Files.Add("chart.png");
            File.WriteAllText(Path.Combine(folder, "chart.png"), "not a picture");
            Charts.LatencyDistribution(Path.Combine(folder, "latency.png"), recorder.Distribution(), 2, "test");
            ResultWriter.Write(result, folder);

            Assert.Equal(
                [
                    "3 errors",
                    "latency percentiles out of order (p50 900, p99 300, max 900 µs)",
                    "lookups.tsv missing or empty",
                    "chart.png is not a PNG",
                    "no precision-recall.png",
                ],
                VerifyCommand.Check(folder));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private sealed class NoProgress : IProgressSink
    {
        public void Report(long completed, TimeSpan elapsed)
        {
        }
    }
}
