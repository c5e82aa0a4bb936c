using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using SemCache.LoadTool.Load;
using SemCache.LoadTool.Quality;

namespace SemCache.LoadTool.Reports;

/// <summary>Writes result.json and summary.md into a run's output folder.</summary>
internal static class ResultWriter
{
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
    };

    public static void Write(RunResult result, string outDirectory)
    {
        ArgumentNullException.ThrowIfNull(result);
        result.Files.Insert(0, "summary.md");
        result.Files.Insert(0, "result.json");
        File.WriteAllText(Path.Combine(outDirectory, "result.json"), JsonSerializer.Serialize(result, JsonOptions));
        File.WriteAllText(Path.Combine(outDirectory, "summary.md"), Markdown(result));
    }

    public static string Markdown(RunResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var md = new StringBuilder();
        void Line(string text = "") => md.Append(text).Append('\n');
        Line($"# semcache-bench {result.Command}");
        Line();
        Line($"- date: {result.StartedUtc.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture)}");
        Line($"- command: `{result.CommandLine}`");
        Line($"- machine: {result.Machine.CpuModel}, {result.Machine.LogicalCores} logical cores; {result.Machine.Os}; {result.Machine.Runtime}");
        if (result.Server is not null)
        {
            Line($"- server: {result.Server}, namespace `{result.Namespace}`");
        }

        Line($"- settings: {string.Join(", ", result.Settings.Select(kv => $"{kv.Key}={kv.Value}"))}");
        if (result.Preload is PreloadReport preload)
        {
            Line(F($"- preload (SetMany): {preload.Entries:N0} entries in {preload.Seconds:0.0} s ({preload.EntriesPerSecond:0} entries/s)"));
        }

        if (result.Load is LoadReport load)
        {
            Line();
            Line("## Throughput and latency");
            Line();
            Line(F($"{load.Shape}; warm-up {load.WarmupRequests:N0} requests in {load.WarmupSeconds:0.0} s, excluded."));
            Line();
            Line("| operation | requests | errors | throughput (req/s) | p50 (ms) | p90 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | mean (ms) |");
            Line("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            Line(LatencyRow(result.Command switch { "mixed" => "request (Get, Set on a miss)", "embed" => "Embed", _ => "Get" }, load.Requests, load.Errors, load.ThroughputPerSecond, load.Latency));
            if (load.GetLatency is LatencySummary get)
            {
                Line(LatencyRow("Get alone", get.Count, 0, null, get));
            }

            if (load.SetLatency is LatencySummary set)
            {
                Line(LatencyRow("Set alone", set.Count, 0, null, set));
            }

            if (load.SendLag is LatencySummary lag)
            {
                Line(LatencyRow("send lag (schedule → sent, part of the above)", lag.Count, 0, null, lag));
            }

            if (load.FirstError is not null)
            {
                Line();
                Line($"First error: `{load.FirstError}`");
            }
        }

        if (result.Hits is HitReport hits)
        {
            Line();
            Line("## Hits");
            Line();
            Line("| Gets | exact hits | semantic hits | misses | hit rate | exact | semantic | Sets |");
            Line("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            Line(F($"| {hits.Gets:N0} | {hits.ExactHits:N0} | {hits.SemanticHits:N0} | {hits.Misses:N0} | {hits.HitRate:P1} | {hits.ExactHitRate:P1} | {hits.SemanticHitRate:P1} | {hits.Sets:N0} |"));
        }

        if (result.Quality is PairsQualityReport quality)
        {
            Line();
            Line("## Answer quality");
            Line();
            Line(F($"{quality.Rows:N0} rows of `{Path.GetFileName(quality.File)}` ({quality.Counts.Duplicates:N0} labelled duplicates), threshold {quality.Threshold:0.###}."));
            Line("A hit is correct when the row is a labelled duplicate and the entry hit is its own q1; every other hit is wrong.");
            Line();
            Line("| correct hits | wrong hits | (on duplicates / on non-duplicates) | misses | precision | recall | F1 |");
            Line("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            QualityCounts c = quality.Counts;
            Line(F($"| {c.Correct:N0} | {c.Wrong:N0} | {quality.WrongOnDuplicates:N0} / {quality.WrongOnNonDuplicates:N0} | {c.Misses:N0} | {c.Precision:0.000} | {c.Recall:0.000} | {c.F1:0.000} |"));
            if (quality.WrongWithIdenticalText > 0)
            {
                Line();
                Line(F($"{quality.WrongWithIdenticalText:N0} of the wrong hits returned an entry stored with exactly the query's text by another row (the file repeats questions): wrong by the protocol's rule, right for a user."));
            }
        }

        if (result.Mixed is MixedQualityReport mixed)
        {
            Line();
            Line("## Mixed stream by request kind");
            Line();
            Line(F($"{mixed.Intents:N0} intents, Zipf exponent {mixed.ZipfExponent}, new fraction {mixed.NewFraction}, paraphrase fraction {mixed.ParaphraseFraction}{(mixed.NewPromptsWrapped ? "; the pool of new prompts ran out and started over" : string.Empty)}."));
            Line();
            Line("| kind | requests | exact hits | semantic hits | misses | hits on the same question | hits on another question |");
            Line("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (MixedKindReport kind in mixed.Kinds)
            {
                Line(F($"| {kind.Kind} | {kind.Requests:N0} | {kind.ExactHits:N0} | {kind.SemanticHits:N0} | {kind.Misses:N0} | {kind.HitsOnSameIntent:N0} | {kind.HitsOnOtherIntent:N0} |"));
            }
        }

        if (result.Calibration is CalibrationReport calibration)
        {
            Line();
            Line("## Threshold calibration");
            Line();
            Line(F($"{calibration.Rows:N0} rows of `{Path.GetFileName(calibration.File)}`, one Get each with min_similarity -1 and top_k 1; the curve is swept offline over {calibration.CurvePoints:N0} distinct similarities."));
            Line();
            Line(calibration.ForTargetPrecision is CurvePoint target
                ? F($"**Threshold for precision ≥ {calibration.TargetPrecision:0.00}: {target.Threshold:0.0000}** (precision {target.Counts.Precision:0.000}, recall {target.Counts.Recall:0.000}, F1 {target.Counts.F1:0.000}).")
                : F($"**No threshold reaches precision {calibration.TargetPrecision:0.00} with recall ≥ {calibration.MinRecall:0.###} on this data.**"));
            if (calibration.ForTargetPrecision is null && calibration.MostPrecise is CurvePoint precise)
            {
                Line();
                Line(F($"The most precise threshold with recall ≥ {calibration.MinRecall:0.###}: {precise.Threshold:0.0000} (precision {precise.Counts.Precision:0.000}, recall {precise.Counts.Recall:0.000})."));
            }
            if (calibration.BestF1 is CurvePoint best)
            {
                Line();
                Line(F($"Best F1: threshold {best.Threshold:0.0000} (precision {best.Counts.Precision:0.000}, recall {best.Counts.Recall:0.000}, F1 {best.Counts.F1:0.000})."));
            }

            if (calibration.WrongWithIdenticalText > 0)
            {
                Line();
                Line(F($"{calibration.WrongWithIdenticalText:N0} lookups found an entry stored with exactly the query's text by another row (the file repeats questions): similarity 1, so they are wrong hits at every threshold by the protocol's rule, though right for a user. They cap the precision reachable at high thresholds."));
            }

            Line();
            Line("| threshold | correct | wrong | misses | precision | recall | F1 |");
            Line("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (CurvePoint point in calibration.Grid.Where(p => Math.Round(p.Threshold * 100) % 5 == 0).OrderByDescending(p => p.Threshold))
            {
                Line(CurveRow(point.Threshold.ToString("0.00", CultureInfo.InvariantCulture), point.Counts));
            }
        }

        if (result.GptCache is GptCacheReport gpt)
        {
            Line();
            Line("## GPTCache's published benchmark, same protocol");
            Line();
            Line(F($"`{Path.GetFileName(gpt.File)}`: {gpt.Rows:N0} pairs ({gpt.DistinctFirstSentences:N0} distinct first sentences). Each first sentence is stored, each rewording is looked up once; a hit is correct when it returns its own pair's first sentence."));
            Line("GPTCache's threshold is on its own similarity scale, not cosine, so equal thresholds are not comparable: compare SemCache's column at equal wrong hits.");
            Line();
            Line("| GPTCache threshold | GPTCache correct / wrong / misses | SemCache at cosine = same number: correct / wrong / misses | SemCache at ≤ equal wrong hits: threshold | correct / wrong / misses |");
            Line("| ---: | ---: | ---: | ---: | ---: |");
            foreach (GptCacheComparisonRow row in gpt.Comparison)
            {
                QualityCounts same = row.SemCacheMeasuredAtSameThreshold ?? row.SemCacheAtSameThreshold;
                string equal = row.SemCacheAtEqualWrongHits is CurvePoint p
                    ? F($"| {p.Threshold:0.0000} | {(row.SemCacheMeasuredAtEqualWrongHits ?? p.Counts).Correct} / {(row.SemCacheMeasuredAtEqualWrongHits ?? p.Counts).Wrong} / {(row.SemCacheMeasuredAtEqualWrongHits ?? p.Counts).Misses} |")
                    : "| – | no threshold |";
                Line(F($"| {row.GptCacheThreshold:0.00} | {row.GptCacheCorrect} / {row.GptCacheWrong} / {row.GptCacheMisses} | {same.Correct} / {same.Wrong} / {same.Misses} {equal}"));
            }
        }

        if (result.Knee is KneeReport knee)
        {
            Line();
            Line("## Knee of the mixed load");
            Line();
            Line(F($"{knee.Clients} clients; closed-loop capacity {knee.CapacityPerSecond:0} requests/s; fixed-rate steps of {knee.StepSeconds:0.#} s, latency from the intended send time."));
            Line(knee.KneeRatePerSecond is double rate ? F($"Knee: **{rate:0} requests/s**, the highest rate with Get p99 ≤ {knee.TailBound:0.#}× p50.") : "Knee: below the first step.");
            Line();
            Line("| target (req/s) | achieved (req/s) | errors | Get p50 (ms) | Get p99 (ms) | p99 / p50 | Set p50 (ms) | Set p99 (ms) | send lag p99 (ms) | verdict |");
            Line("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
            foreach (KneeStepReport step in knee.Steps)
            {
                SideBySide.KneeStep s = step.Step;
                Line(F($"| {s.TargetRate:0} | {s.AchievedRate:0} | {s.Errors:N0} | {Ms(s.Get.P50Us)} | {Ms(s.Get.P99Us)} | {s.GetTailRatio:0.0} | {Ms(s.Set.P50Us)} | {Ms(s.Set.P99Us)} | {(s.SendLag is LatencySummary lag ? Ms(lag.P99Us) : "")} | {step.Verdict} |"));
            }
        }

        if (result.Notes.Count > 0)
        {
            Line();
            Line("## Notes");
            Line();
            foreach (string note in result.Notes)
            {
                Line($"- {note}");
            }
        }

        if (result.Files.Count > 0)
        {
            Line();
            Line($"Files: {string.Join(", ", result.Files.Select(f => f.EndsWith(".png", StringComparison.Ordinal) ? $"![{f}]({f})" : $"`{f}`"))}");
        }

        return md.ToString();
    }

    private static string CurveRow(string label, QualityCounts c) =>
        F($"| {label} | {c.Correct:N0} | {c.Wrong:N0} | {c.Misses:N0} | {c.Precision:0.000} | {c.Recall:0.000} | {c.F1:0.000} |");

    private static string LatencyRow(string name, long requests, long errors, double? throughput, LatencySummary l) =>
        F($"| {name} | {requests:N0} | {errors:N0} | {(throughput is double t ? t.ToString("N0", CultureInfo.InvariantCulture) : "")} | {Ms(l.P50Us)} | {Ms(l.P90Us)} | {Ms(l.P99Us)} | {Ms(l.P999Us)} | {Ms(l.MaxUs)} | {l.MeanUs / 1000:0.00} |");

    private static string Ms(long micros) => (micros / 1000.0).ToString("0.00", CultureInfo.InvariantCulture);

    private static string F(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
