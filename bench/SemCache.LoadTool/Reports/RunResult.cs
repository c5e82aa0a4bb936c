using SemCache.LoadTool.Load;
using SemCache.LoadTool.Quality;

namespace SemCache.LoadTool.Reports;

/// <summary>Everything one run measured: written as result.json, and the source of summary.md and the charts.</summary>
internal sealed class RunResult
{
    public string Tool { get; init; } = "semcache-bench";

    public required string Command { get; init; }

    public required string CommandLine { get; init; }

    public required DateTimeOffset StartedUtc { get; init; }

    public required MachineInfo Machine { get; init; }

    public string? Server { get; set; }

    public string? Namespace { get; set; }

    /// <summary>The settings that shaped the run, as given or defaulted.</summary>
    public SortedDictionary<string, string> Settings { get; } = new(StringComparer.Ordinal);

    public PreloadReport? Preload { get; set; }

    public LoadReport? Load { get; set; }

    public HitReport? Hits { get; set; }

    public PairsQualityReport? Quality { get; set; }

    public MixedQualityReport? Mixed { get; set; }

    public CalibrationReport? Calibration { get; set; }

    public GptCacheReport? GptCache { get; set; }

    public KneeReport? Knee { get; set; }

    /// <summary>Caveats a reader must know to read the numbers right.</summary>
    public List<string> Notes { get; } = [];

    /// <summary>The files written, relative to the output folder.</summary>
    public List<string> Files { get; } = [];
}

/// <summary>The SetMany preload of a run's entries.</summary>
internal sealed record PreloadReport(int Entries, double Seconds, double EntriesPerSecond);

/// <summary>The measured phase: requests, errors, time and latency; warm-up excluded.</summary>
/// <param name="Shape">Closed loop or fixed rate, and the bound.</param>
/// <param name="Requests">Requests completed in the measured phase.</param>
/// <param name="Errors">Requests that failed (not in the latencies).</param>
/// <param name="FirstError">The first failure's status and detail.</param>
/// <param name="ElapsedSeconds">Wall time of the measured phase.</param>
/// <param name="ThroughputPerSecond">Requests / elapsed.</param>
/// <param name="Latency">Latency of each operation (from its intended send time in fixed-rate mode).</param>
/// <param name="GetLatency">For workloads whose operation is more than a Get (mixed: Get, then Set on a miss): the Gets alone.</param>
/// <param name="SetLatency">Likewise the Sets alone.</param>
/// <param name="SendLag">Fixed rate only: how late requests left against the schedule (included in Latency).</param>
/// <param name="WarmupRequests">Requests sent in the warm-up, not counted anywhere else.</param>
/// <param name="WarmupSeconds">The warm-up's length.</param>
internal sealed record LoadReport(
    string Shape,
    long Requests,
    long Errors,
    string? FirstError,
    double ElapsedSeconds,
    double ThroughputPerSecond,
    LatencySummary Latency,
    LatencySummary? GetLatency,
    LatencySummary? SetLatency,
    LatencySummary? SendLag,
    long WarmupRequests,
    double WarmupSeconds);

/// <summary>The pairs workload's answer quality at the run's threshold.</summary>
/// <param name="File">The pair file.</param>
/// <param name="Rows">Rows queried (after --limit).</param>
/// <param name="Threshold">min_similarity sent with every Get.</param>
/// <param name="Counts">Correct, wrong, misses, precision, recall and F1.</param>
/// <param name="WrongOnDuplicates">Wrong hits on label-1 rows: a hit, but on another entry than the row's q1.</param>
/// <param name="WrongOnNonDuplicates">Wrong hits on label-0 rows.</param>
/// <param name="WrongWithIdenticalText">Wrong hits on an entry stored with exactly the query's text (by another row).</param>
internal sealed record PairsQualityReport(string File, int Rows, float Threshold, QualityCounts Counts, int WrongOnDuplicates, int WrongOnNonDuplicates, int WrongWithIdenticalText);

/// <summary>The mixed workload's outcome for each kind of request.</summary>
internal sealed record MixedQualityReport(IReadOnlyList<MixedKindReport> Kinds, int Intents, double ZipfExponent, double NewFraction, double ParaphraseFraction, bool NewPromptsWrapped);

/// <param name="Kind">repeat, paraphrase or new.</param>
/// <param name="Requests">Requests of that kind in the measured phase.</param>
/// <param name="ExactHits">Answered by the exact layer.</param>
/// <param name="SemanticHits">Answered by the semantic layer.</param>
/// <param name="Misses">Not answered (a Set followed).</param>
/// <param name="HitsOnSameIntent">Hits whose entry was stored for the same question (either phrasing).</param>
/// <param name="HitsOnOtherIntent">Hits on another question's entry: a wrong cached answer.</param>
internal sealed record MixedKindReport(string Kind, long Requests, long ExactHits, long SemanticHits, long Misses, long HitsOnSameIntent, long HitsOnOtherIntent);

/// <summary>The precision/recall curve from one no-threshold pass, and the thresholds it recommends.</summary>
/// <param name="File">The pair file.</param>
/// <param name="Rows">Rows queried.</param>
/// <param name="TargetPrecision">The precision asked for.</param>
/// <param name="MinRecall">The least recall a recommended threshold must keep.</param>
/// <param name="ForTargetPrecision">The lowest threshold reaching it (most recall) with at least MinRecall; null when none does.</param>
/// <param name="MostPrecise">The most precise threshold with at least MinRecall: what the data allows when the target is out of reach.</param>
/// <param name="BestF1">The threshold with the best F1.</param>
/// <param name="Grid">Counts every 0.01 from 0.5 to 1.</param>
/// <param name="CurvePoints">Distinct thresholds on the exact curve.</param>
/// <param name="WrongWithIdenticalText">Lookups whose nearest entry was stored with exactly the query's text by another row: similarity 1, so a wrong hit at every threshold.</param>
internal sealed record CalibrationReport(string File, int Rows, double TargetPrecision, double MinRecall, CurvePoint? ForTargetPrecision, CurvePoint? MostPrecise, CurvePoint? BestF1, IReadOnlyList<CurvePoint> Grid, int CurvePoints, int WrongWithIdenticalText);

/// <summary>GPTCache's published counts next to SemCache's on the same protocol.</summary>
internal sealed record GptCacheReport(string File, int Rows, int DistinctFirstSentences, IReadOnlyList<GptCacheComparisonRow> Comparison);

/// <param name="GptCacheThreshold">GPTCache's similarity threshold (its own scale, not cosine).</param>
/// <param name="GptCacheCorrect">Its published correct hits.</param>
/// <param name="GptCacheWrong">Its published wrong hits.</param>
/// <param name="GptCacheMisses">Its published misses.</param>
/// <param name="SemCacheAtSameThreshold">SemCache at the same number as a cosine threshold (from the no-threshold pass).</param>
/// <param name="SemCacheMeasuredAtSameThreshold">The same, measured by Gets sent with that min_similarity (a check of the offline sweep); null when skipped.</param>
/// <param name="SemCacheAtEqualWrongHits">SemCache at the threshold that makes at most as many wrong hits as GPTCache did: the fair comparison.</param>
/// <param name="SemCacheMeasuredAtEqualWrongHits">That threshold measured by Gets; null when skipped.</param>
internal sealed record GptCacheComparisonRow(
    float GptCacheThreshold,
    int GptCacheCorrect,
    int GptCacheWrong,
    int GptCacheMisses,
    QualityCounts SemCacheAtSameThreshold,
    QualityCounts? SemCacheMeasuredAtSameThreshold,
    CurvePoint? SemCacheAtEqualWrongHits,
    QualityCounts? SemCacheMeasuredAtEqualWrongHits);

/// <summary>The knee search of the mixed load (semcache-bench knee).</summary>
/// <param name="CapacityPerSecond">Closed-loop throughput of the same clients: the steps are fractions of it.</param>
/// <param name="Clients">Clients (the most requests in flight).</param>
/// <param name="StepSeconds">Length of each fixed-rate step.</param>
/// <param name="TailBound">A step is within the bound while Get p99 ≤ this × Get p50.</param>
/// <param name="Steps">The steps run, in order; the last one failed unless every step kept within the bound.</param>
/// <param name="KneeRatePerSecond">The highest rate before the first failed step; null when the first failed.</param>
internal sealed record KneeReport(double CapacityPerSecond, int Clients, double StepSeconds, double TailBound, IReadOnlyList<KneeStepReport> Steps, double? KneeRatePerSecond);

/// <summary>One step of the knee search and its verdict.</summary>
internal sealed record KneeStepReport(SideBySide.KneeStep Step, SideBySide.StepVerdict Verdict);
