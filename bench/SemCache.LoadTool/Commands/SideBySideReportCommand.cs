using System.Globalization;
using System.Text;
using System.Text.Json;
using SemCache.LoadTool.Reports;
using SemCache.LoadTool.SideBySide;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// side-by-side-report DIR: reads every result of a bench/side-by-side.sh run (see <see cref="SideBySideFiles"/>) and
/// writes DIR/summary.md (the issue-10 table: measured values, ratio, goal, met?), DIR/summary.json,
/// DIR/side-by-side.png (each ratio against its goal) and DIR/knee.png. Values of several rounds are medians.
/// </summary>
internal static class SideBySideReportCommand
{
    public static int Run(IReadOnlyList<string> args)
    {
        Flags flags = Flags.Parse(args);
        flags.ThrowOnUnused();
        if (flags.Positionals.Count != 1 || !Directory.Exists(flags.Positionals[0]))
        {
            throw new UsageException("side-by-side-report needs the run's folder (as bench/side-by-side.sh wrote it)");
        }

        var files = new SideBySideFiles(flags.Positionals[0]);
        IReadOnlyDictionary<string, string> info = files.RunInfo();
        string serverArgs = info.GetValueOrDefault("server args", string.Empty);
        List<ExactComparison> exact = ReadExact(files);
        string knee = Path.Combine(files.Root, "knee", "result.json");
        double? kneeRate = files.Number(knee, "knee", "kneeRatePerSecond");
        double? capacity = File.Exists(knee) ? files.Number(knee, "knee", "capacityPerSecond") : null;
        var figures = new SideBySideFigures
        {
            Gets32PerSecond = SideBySideTable.Median(files.FromRounds("gets-32/result.json", "load", "throughputPerSecond")),
            PeerBatch32PerSecond = SideBySideTable.Median(files.FromRounds("peer-batch32.json", "per_s")),
            GetAloneP50Ms = Ms(SideBySideTable.Median(files.FromRounds("gets-1/result.json", "load", "latency", "p50Us"))),
            PeerAloneP50Ms = SideBySideTable.Median(files.FromRounds("peer-lone.json", "p50_ms")),
            EmbedAloneP50Ms = Ms(SideBySideTable.Median(files.FromRounds("embed-1/result.json", "load", "latency", "p50Us"))),
            BulkEntriesPerSecond = SideBySideTable.Median(files.FromRounds("bulk/result.json", "preload", "entriesPerSecond")),
            PeerBulkBatch32PerSecond = SideBySideTable.Median(files.FromRounds("peer-bulk.json", "per_s")),
            KneeRatePerSecond = kneeRate,
            KneeNote = capacity is double c ? string.Create(CultureInfo.InvariantCulture, $"closed-loop capacity {c:0}/s; steps in knee/summary.md") : null,
            StoredEntries = (int)(files.Number(Path.Combine(files.Root, "preload", "result.json"), "preload", "entries") ?? 0),
            BulkEntries = (int)(SideBySideTable.Median(files.FromRounds("bulk/result.json", "preload", "entries")) ?? 0),
            BulkBatch = int.TryParse(info.GetValueOrDefault("bulk batch"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int batch) ? batch : 500,
            MixedClients = int.TryParse(info.GetValueOrDefault("mixed clients"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int clients) ? clients : 64,
            Int8 = serverArgs.Contains("int8", StringComparison.OrdinalIgnoreCase),
            Exact = exact,
        };
        IReadOnlyList<ComparisonRow> rows = SideBySideTable.Rows(figures);

        string markdown = Markdown(files, info, rows);
        File.WriteAllText(Path.Combine(files.Root, "summary.md"), markdown);
        File.WriteAllText(Path.Combine(files.Root, "summary.json"), JsonSerializer.Serialize(new { info, figures, rows = rows.Select(r => new { r.Workload, r.SemCache, r.Peer, r.Ratio, goal = r.Goal.Describe(), r.Met, r.Note }), notes = files.Notes }, ResultWriter.JsonOptions));
        Charts.SideBySideRatios(Path.Combine(files.Root, "side-by-side.png"), rows, "SemCache side by side: ratio to the peer (bar) and goal (line)");
        List<KneeStep> steps = ReadKneeSteps(knee);
        if (steps.Count > 0)
        {
            Charts.Knee(Path.Combine(files.Root, "knee.png"), steps, kneeRate, $"mixed load, {figures.MixedClients} clients (70 % Get, 30 % Set): Get latency by fixed rate");
        }

        Console.WriteLine(markdown);
        return rows.Any(r => r.SemCache.Value is null && r.Note is null) ? 1 : 0;
    }

    private static double? Ms(double? micros) => micros / 1000.0;

    private static List<ExactComparison> ReadExact(SideBySideFiles files)
    {
        string root = Path.Combine(files.Root, "exact");
        var byConcurrency = new SortedDictionary<int, (List<double> Grpc, List<double> Redis, List<string> Notes)>();
        if (!Directory.Exists(root))
        {
            return [];
        }

        foreach (string round in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            foreach (string folder in Directory.EnumerateDirectories(round))
            {
                string name = Path.GetFileName(folder);
                if (!name.StartsWith('c') || !int.TryParse(name[1..], NumberStyles.Integer, CultureInfo.InvariantCulture, out int concurrency))
                {
                    continue;
                }

                if (!byConcurrency.TryGetValue(concurrency, out var entry))
                {
                    entry = ([], [], []);
                    byConcurrency[concurrency] = entry;
                }

                string h2load = Path.Combine(folder, "h2load.txt");
                if (File.Exists(h2load))
                {
                    H2LoadResult run = ToolOutputs.ParseH2Load(File.ReadAllText(h2load));
                    double? gets = Delta(files, folder, "gets");
                    double? exactHits = Delta(files, folder, "exactHits");
                    string? problem = gets is double g && exactHits is double e ? ToolOutputs.ExactHitProblem(run, g, e) : "the server's counters were not read";
                    if (problem is null)
                    {
                        entry.Grpc.Add(run.RequestsPerSecond);
                    }
                    else
                    {
                        entry.Notes.Add($"{Path.GetFileName(round)}: not counted, {problem}");
                    }
                }

                string redis = Path.Combine(folder, "redis.csv");
                if (File.Exists(redis))
                {
                    entry.Redis.Add(ToolOutputs.ParseRedisBenchmarkCsv(File.ReadAllText(redis), "GET").RequestsPerSecond);
                }
            }
        }

        return [.. byConcurrency.Select(kv => new ExactComparison(
            kv.Key,
            SideBySideTable.Median(kv.Value.Grpc),
            SideBySideTable.Median(kv.Value.Redis),
            kv.Value.Notes.Count > 0 ? string.Join("; ", kv.Value.Notes) : kv.Value.Grpc.Count > 0 ? "every Get verified an exact hit by the server's counters" : null))];
    }

    private static double? Delta(SideBySideFiles files, string folder, string counter) =>
        files.Number(Path.Combine(folder, "stats-after.json"), counter) - files.Number(Path.Combine(folder, "stats-before.json"), counter);

    private static List<KneeStep> ReadKneeSteps(string file)
    {
        if (!File.Exists(file))
        {
            return [];
        }

        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(file));
        if (!document.RootElement.TryGetProperty("knee", out JsonElement knee))
        {
            return [];
        }

        return [.. knee.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("step").Deserialize<KneeStep>(ResultWriter.JsonOptions)!)];
    }

    private static string Markdown(SideBySideFiles files, IReadOnlyDictionary<string, string> info, IReadOnlyList<ComparisonRow> rows)
    {
        var md = new StringBuilder();
        md.Append("# SemCache side by side (issue 10)\n\n");
        MachineInfo machine = MachineInfo.Current();
        foreach ((string key, string value) in info)
        {
            md.Append(CultureInfo.InvariantCulture, $"- {key}: {value}\n");
        }

        md.Append(CultureInfo.InvariantCulture, $"- machine (as .NET sees it): {machine.CpuModel}, {machine.LogicalCores} logical cores; {machine.Os}; {machine.Runtime}\n");
        md.Append(CultureInfo.InvariantCulture, $"- rounds: {files.Rounds.Count()} (values of several rounds are medians)\n\n");
        md.Append(SideBySideTable.Markdown(rows));
        md.Append("\nRatio = SemCache / peer. Throughput rows need a ratio at least the goal; latency rows at most.\n");
        md.Append("\n![ratios](side-by-side.png)\n");
        if (File.Exists(Path.Combine(files.Root, "knee.png")) || Directory.Exists(Path.Combine(files.Root, "knee")))
        {
            md.Append("\n![knee](knee.png)\n");
        }

        IReadOnlyList<string> skipped = files.Skipped();
        if (skipped.Count + files.Notes.Count > 0)
        {
            md.Append("\n## Not measured\n\n");
            foreach (string line in skipped.Concat(files.Notes))
            {
                md.Append(CultureInfo.InvariantCulture, $"- {line}\n");
            }
        }

        md.Append("\nEach workload's own summary.md, result.json and latency.png are in its folder (rounds/rN/…, knee/, exact/rN/cC/).\n");
        return md.ToString();
    }
}
