using System.Buffers.Binary;
using SemCache.LoadTool.Data;
using SemCache.LoadTool.Load;
using SemCache.LoadTool.SideBySide;
using SemCache.Protocol.V1;

namespace SemCache.LoadTool.Tests;

public sealed class SideBySideTests
{
    private const string H2LoadOutput = """
        starting benchmark...
        spawning thread #0: 16 total client(s). Timing-based test with 1s of warm-up time and 4s of main duration for measurements.
        Application protocol: h2c

        finished in 4.00s, 21277.25 req/s, 5.62MB/s
        requests: 85109 total, 85125 started, 85109 done, 85109 succeeded, 0 failed, 0 errored, 0 timeout
        status codes: 85109 2xx, 0 3xx, 0 4xx, 0 5xx
        traffic: 22.47MB (23563744) total, 1.06MB (1108421) headers (space savings 95.55%), 20.35MB (21339418) data
                             min         max         mean         sd        +/- sd
        time for request:      203us     12.05ms       729us       401us    81.35%
        time for connect:      151us      1.60ms       894us       432us    62.50%
        time to 1st byte:      2.21ms      4.57ms      3.33ms       656us    62.50%
        req/s           :    1306.33     1357.93     1329.80       13.71    68.75%
        """;

    private static LatencySummary Latency(long p50Us, long p99Us, long count = 100) => new(count, p50Us, p50Us, p50Us, p99Us, p99Us, p99Us);

    private static KneeStep Step(double target, double achieved, long p50Us, long p99Us, long errors = 0) =>
        new(target, achieved, (long)achieved * 8, errors, Latency(p50Us, p99Us), Latency(p50Us, p99Us), null);

    [Fact]
    public void GrpcFrameIsFlagThenBigEndianLengthThenTheMessage()
    {
        var request = new GetRequest { Namespace = "ns", Prompt = "How do I learn C#?", TopK = 1 };
        byte[] frame = GrpcFrame.Frame(request);
        byte[] payload = Google.Protobuf.MessageExtensions.ToByteArray(request);

        Assert.Equal(0, frame[0]);
        Assert.Equal((uint)payload.Length, BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(1, 4)));
        Assert.Equal(payload, frame[5..]);
        Assert.Equal(request, GetRequest.Parser.ParseFrom(GrpcFrame.Unframe(frame).Span));
    }

    [Fact]
    public void GrpcFrameLengthIsBigEndianForLongMessages()
    {
        byte[] frame = GrpcFrame.Frame(new GetRequest { Prompt = new string('x', 70_000) });
        int length = frame.Length - GrpcFrame.HeaderLength;

        Assert.Equal([0, (byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length], frame[..5]);
    }

    [Fact]
    public void UnframeRejectsCompressedAndTruncatedFrames()
    {
        byte[] frame = GrpcFrame.Frame(new GetRequest { Prompt = "hello" });
        byte[] compressed = [.. frame];
        compressed[0] = 1;

        Assert.Throws<FormatException>(() => GrpcFrame.Unframe(compressed));
        Assert.Throws<FormatException>(() => GrpcFrame.Unframe(frame.AsMemory(0, frame.Length - 1)));
        Assert.Throws<FormatException>(() => GrpcFrame.Unframe(new byte[3]));
    }

    [Fact]
    public void GoalsJudgeTheRatioInTheirDirection()
    {
        Assert.True(Goal.AtLeast(1.5).IsMet(1.5));
        Assert.False(Goal.AtLeast(1.5).IsMet(1.49));
        Assert.True(Goal.AtMost(1.0).IsMet(0.8));
        Assert.False(Goal.AtMost(1.0).IsMet(1.01));
        Assert.Null(Goal.AtLeast(1.5).IsMet(null));
        Assert.Null(Goal.Report.IsMet(3));
    }

    [Fact]
    public void RowsAreSemCacheOverPeerWithTheIssuesGoals()
    {
        var figures = new SideBySideFigures
        {
            Gets32PerSecond = 450,
            PeerBatch32PerSecond = 300,
            GetAloneP50Ms = 4,
            PeerAloneP50Ms = 5,
            EmbedAloneP50Ms = 4.4,
            BulkEntriesPerSecond = 600,
            PeerBulkBatch32PerSecond = 300,
            KneeRatePerSecond = 200,
            StoredEntries = 2000,
            BulkEntries = 20_000,
            BulkBatch = 500,
            MixedClients = 64,
            Exact = [new ExactComparison(16, 30_000, 80_000, null), new ExactComparison(64, null, 90_000, "not counted")],
        };

        IReadOnlyList<ComparisonRow> rows = SideBySideTable.Rows(figures);

        Assert.Equal(7, rows.Count);
        Assert.Equal(1.5, rows[0].Ratio!.Value, 6);
        Assert.True(rows[0].Met);
        Assert.Equal(0.8, rows[1].Ratio!.Value, 6);
        Assert.True(rows[1].Met);
        Assert.Equal(1.1, rows[2].Ratio!.Value, 6); // Embed p50 over Get p50
        Assert.False(rows[2].Met);
        Assert.Equal(2.0, rows[3].Ratio!.Value, 6);
        Assert.True(rows[3].Met);
        Assert.Null(rows[4].Ratio);
        Assert.Null(rows[4].Met);
        Assert.Equal(200, rows[4].SemCache.Value);
        Assert.Equal(0.375, rows[5].Ratio!.Value, 6);
        Assert.False(rows[5].Met);
        Assert.Null(rows[6].Ratio);
        Assert.Null(rows[6].Met);
    }

    [Fact]
    public void TheInt8ModelRaisesTheThroughputGoalToThree()
    {
        var figures = new SideBySideFigures { Gets32PerSecond = 600, PeerBatch32PerSecond = 300, Int8 = true };

        ComparisonRow row = SideBySideTable.Rows(figures)[0];

        Assert.Equal(3, row.Goal.Ratio);
        Assert.False(row.Met);
    }

    [Fact]
    public void MarkdownShowsRatioGoalAndVerdict()
    {
        var figures = new SideBySideFigures { Gets32PerSecond = 450, PeerBatch32PerSecond = 300, KneeRatePerSecond = 120 };

        string markdown = SideBySideTable.Markdown(SideBySideTable.Rows(figures));

        Assert.StartsWith("| workload | SemCache | peer | ratio | goal | met? |", markdown, StringComparison.Ordinal);
        Assert.Contains("| 1.50× | ≥ 1.5× (≥ 3× with the int8 model) | yes |", markdown, StringComparison.Ordinal);
        Assert.Contains("| — | report it | reported |", markdown, StringComparison.Ordinal);
        Assert.Contains("| not measured |", markdown, StringComparison.Ordinal);
    }

    [Fact]
    public void MedianOfRounds()
    {
        Assert.Equal(2, SideBySideTable.Median([3, 1, 2]));
        Assert.Equal(2.5, SideBySideTable.Median([4, 1, 2, 3]));
        Assert.Null(SideBySideTable.Median([]));
        Assert.Equal(5, SideBySideTable.Median([5, double.NaN]));
    }

    [Fact]
    public void KneeIsTheHighestStepWithinTheBound()
    {
        KneeStep[] steps =
        [
            Step(50, 50, 10_000, 20_000),
            Step(80, 80, 11_000, 40_000), // 3.6×: one stall, the search goes on
            Step(110, 109, 12_000, 30_000), // within again: the stall was noise
            Step(140, 139, 12_000, 40_000), // past the bound
            Step(170, 168, 13_000, 50_000), // twice in a row: the end
        ];

        Assert.Equal(StepVerdict.TailTooLong, KneeSearch.Judge(steps[1]));
        Assert.True(KneeSearch.ShouldContinue(steps[..2]));
        Assert.True(KneeSearch.ShouldContinue(steps[..4]));
        Assert.False(KneeSearch.ShouldContinue(steps));
        Assert.Equal(110, KneeSearch.Knee(steps)!.TargetRate);
    }

    [Fact]
    public void AStepNotSustainedOrWithErrorsEndsTheSearch()
    {
        Assert.Equal(StepVerdict.NotSustained, KneeSearch.Judge(Step(100, 89, 10_000, 12_000)));
        Assert.Equal(StepVerdict.Within, KneeSearch.Judge(Step(100, 90, 10_000, 30_000)));
        Assert.Equal(StepVerdict.Errors, KneeSearch.Judge(Step(100, 100, 10_000, 12_000, errors: 1)));
        Assert.False(KneeSearch.ShouldContinue([Step(50, 50, 10_000, 12_000), Step(100, 50, 10_000, 12_000)]));
        Assert.False(KneeSearch.ShouldContinue([Step(100, 100, 10_000, 12_000, errors: 1)]));
        Assert.True(KneeSearch.ShouldContinue([]));
        Assert.Null(KneeSearch.Knee([Step(100, 50, 10_000, 12_000)]));
        Assert.Null(KneeSearch.Knee([]));
    }

    [Fact]
    public void KneeRatesAreFractionsOfTheCapacity()
    {
        double[] rates = KneeSearch.Rates(200, 4);

        Assert.Equal([50, 80, 110, 140], rates);
        Assert.Equal(KneeSearch.CapacityFractions.Count, KneeSearch.Rates(200, 100).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => KneeSearch.Rates(0, 4));
    }

    [Fact]
    public void ThreeInTenMixedRequestsAreSets()
    {
        Assert.Equal(300, Enumerable.Range(0, 1000).Count(i => KneeSearch.IsSet(i)));
    }

    [Fact]
    public void H2LoadOutputIsParsed()
    {
        H2LoadResult run = ToolOutputs.ParseH2Load(H2LoadOutput);

        Assert.Equal(21277.25, run.RequestsPerSecond);
        Assert.Equal(85109, run.Done);
        Assert.Equal(85109, run.Succeeded);
        Assert.Equal(0, run.Failed);
        Assert.Equal(85109, run.Status2xx);
        Assert.Equal(729, run.MeanRequestUs);
        Assert.Throws<FormatException>(() => ToolOutputs.ParseH2Load("connect failed"));
    }

    [Fact]
    public void AnH2LoadRunCountsOnlyWhenEveryGetWasAnExactHit()
    {
        H2LoadResult run = ToolOutputs.ParseH2Load(H2LoadOutput);

        Assert.Null(ToolOutputs.ExactHitProblem(run, getsDelta: 90_000, exactHitsDelta: 90_000)); // the warm-up counts too
        Assert.NotNull(ToolOutputs.ExactHitProblem(run, getsDelta: 90_000, exactHitsDelta: 0)); // HTTP 200, grpc-status errors
        Assert.NotNull(ToolOutputs.ExactHitProblem(run, getsDelta: 1_000, exactHitsDelta: 1_000)); // fewer Gets than h2load saw
        Assert.NotNull(ToolOutputs.ExactHitProblem(run with { Status2xx = 85_000 }, 90_000, 90_000));
        Assert.NotNull(ToolOutputs.ExactHitProblem(run with { Done = 0 }, 0, 0));
    }

    [Fact]
    public void RedisBenchmarkCsvIsParsed()
    {
        const string csv = """
            "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
            "GET","75187.97","0.123","0.032","0.111","0.207","0.327","2.455"
            """;

        RedisBenchmarkResult result = ToolOutputs.ParseRedisBenchmarkCsv(csv, "GET");

        Assert.Equal(75187.97, result.RequestsPerSecond);
        Assert.Equal(0.111, result.P50Ms);
        Assert.Equal(0.327, result.P99Ms);
        Assert.Throws<FormatException>(() => ToolOutputs.ParseRedisBenchmarkCsv(csv, "SET"));
        Assert.Throws<FormatException>(() => ToolOutputs.ParseRedisBenchmarkCsv("Could not connect", "GET"));
    }

    [Fact]
    public void TextSetsAreDisjointAndQueriesAreNeverStored()
    {
        IReadOnlyList<LabelledPair> pairs = PairFile.Parse(
        [
            "1\tHow do I learn C#?\tWhat is the best way to learn C#?",
            "0\tWhat is  a cache?\tHow do I learn C#?",
            "1\tWhy is the sky blue?\tWhat is a cache?",
            "0\tWhat is Redis?\tWhat is HTTP/2?",
            "0\tWhat is gRPC?\tWhat is protobuf?",
        ]);

        TextSets sets = TextSets.Split(pairs, stored: 2, queries: 2, bulk: 2);

        Assert.Equal(["How do I learn C#?", "What is a cache?"], sets.Stored);
        Assert.Equal(["What is the best way to learn C#?", "Why is the sky blue?"], sets.Queries);
        Assert.Equal(["What is Redis?", "What is HTTP/2?"], sets.Bulk);
        Assert.Equal(["What is gRPC?", "What is protobuf?"], sets.Mixed);
        string[] all = [.. sets.Stored, .. sets.Queries, .. sets.Bulk, .. sets.Mixed];
        Assert.Equal(all.Length, all.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void SlicesMustFitTheFile()
    {
        string[] texts = ["a", "b", "c"];

        Assert.Equal(["b", "c"], TextSets.Slice(texts, 1, null, "f"));
        Assert.Equal(["b"], TextSets.Slice(texts, 1, 1, "f"));
        Assert.Throws<UsageException>(() => TextSets.Slice(texts, 2, 2, "f"));
        Assert.Throws<UsageException>(() => TextSets.Slice(texts, 3, null, "f"));
    }
}
