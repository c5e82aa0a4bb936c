using System.Globalization;
using System.Text;

namespace SemCache.LoadTool.SideBySide;

/// <summary>Which way a ratio must go to meet its goal.</summary>
internal enum GoalDirection
{
    /// <summary>SemCache / peer must be at least the goal (throughputs).</summary>
    AtLeast,

    /// <summary>SemCache / peer must be at most the goal (latencies).</summary>
    AtMost,

    /// <summary>No ratio: the value is reported.</summary>
    ReportOnly,
}

/// <summary>A row's goal on the ratio SemCache / peer.</summary>
internal sealed record Goal(GoalDirection Direction, double Ratio, string? Text = null)
{
    public static Goal AtLeast(double ratio, string? text = null) => new(GoalDirection.AtLeast, ratio, text);

    public static Goal AtMost(double ratio, string? text = null) => new(GoalDirection.AtMost, ratio, text);

    public static Goal Report { get; } = new(GoalDirection.ReportOnly, 0, "report it");

    /// <summary>Null when there is nothing to judge: a report-only row, or a ratio that could not be measured.</summary>
    public bool? IsMet(double? ratio)
    {
        if (Direction == GoalDirection.ReportOnly || ratio is not double r || double.IsNaN(r))
        {
            return null;
        }

        return Direction == GoalDirection.AtLeast ? r >= Ratio : r <= Ratio;
    }

    public string Describe() => Text ?? string.Create(CultureInfo.InvariantCulture, $"{(Direction == GoalDirection.AtLeast ? "≥" : "≤")} {Ratio:0.0#}×");
}

/// <summary>One measured value; null when it was not measured (the row's note says why).</summary>
internal sealed record Measurement(string What, double? Value, string Unit)
{
    public string Describe()
    {
        if (Value is not double v)
        {
            return $"{What}: not measured";
        }

        string number = v >= 100 ? v.ToString("N0", CultureInfo.InvariantCulture) : v.ToString("0.00", CultureInfo.InvariantCulture);
        return $"{What}: **{number}** {Unit}";
    }
}

/// <summary>One line of the issue's table: SemCache's figure, the peer's, their ratio and the goal.</summary>
internal sealed record ComparisonRow(string Workload, Measurement SemCache, Measurement? Peer, Goal Goal, string? Note = null)
{
    /// <summary>SemCache / peer; null without both values.</summary>
    public double? Ratio => SemCache.Value is double s && Peer?.Value is double p && p > 0 ? s / p : null;

    public bool? Met => Goal.IsMet(Ratio);
}

/// <summary>One concurrency of the exact-Get comparison.</summary>
/// <param name="Concurrency">Connections of each tool, one request in flight on each.</param>
/// <param name="GrpcPerSecond">SemCache exact Gets/s (h2load), median of rounds; null when not run.</param>
/// <param name="RedisPerSecond">Redis GETs/s (redis-benchmark), median of rounds; null when not run.</param>
/// <param name="Note">Why a value is missing, or what was checked.</param>
internal sealed record ExactComparison(int Concurrency, double? GrpcPerSecond, double? RedisPerSecond, string? Note);

/// <summary>The medians the table is computed from (null: not measured).</summary>
internal sealed record SideBySideFigures
{
    public double? Gets32PerSecond { get; init; }

    public double? PeerBatch32PerSecond { get; init; }

    public double? GetAloneP50Ms { get; init; }

    public double? PeerAloneP50Ms { get; init; }

    public double? EmbedAloneP50Ms { get; init; }

    public double? BulkEntriesPerSecond { get; init; }

    public double? PeerBulkBatch32PerSecond { get; init; }

    public double? KneeRatePerSecond { get; init; }

    public string? KneeNote { get; init; }

    public int StoredEntries { get; init; }

    public int BulkEntries { get; init; }

    public int BulkBatch { get; init; }

    public int MixedClients { get; init; }

    /// <summary>The server ran the int8 model: the throughput goal is 3× instead of 1.5×.</summary>
    public bool Int8 { get; init; }

    public IReadOnlyList<ExactComparison> Exact { get; init; } = [];
}

/// <summary>The issue-10 table: what each row compares and whether its goal is met.</summary>
internal static class SideBySideTable
{
    public static IReadOnlyList<ComparisonRow> Rows(SideBySideFigures f)
    {
        ArgumentNullException.ThrowIfNull(f);
        string stored = f.StoredEntries.ToString("N0", CultureInfo.InvariantCulture);
        var rows = new List<ComparisonRow>
        {
            new(
                $"32 concurrent semantic Gets of new prompts ({stored} entries stored) vs transformers.js batch-32 embedding of the same texts",
                new("SemCache", f.Gets32PerSecond, "Gets/s"),
                new("transformers.js", f.PeerBatch32PerSecond, "texts/s"),
                f.Int8 ? Goal.AtLeast(3, "≥ 3× (int8 model)") : Goal.AtLeast(1.5, "≥ 1.5× (≥ 3× with the int8 model)")),
            new(
                "one Get at a time (new prompts), p50, vs transformers.js embedding one text in process, p50",
                new("SemCache", f.GetAloneP50Ms, "ms"),
                new("transformers.js", f.PeerAloneP50Ms, "ms"),
                Goal.AtMost(1.0)),
            new(
                "Embed RPC, one text at a time, p50, vs a Get's p50 (one at a time)",
                new("Embed", f.EmbedAloneP50Ms, "ms"),
                new("Get", f.GetAloneP50Ms, "ms"),
                Goal.AtMost(1.0, "≤ 1.0× (≤ a Get's p50)")),
            new(
                string.Create(CultureInfo.InvariantCulture, $"SetMany bulk load ({f.BulkEntries:N0} Quora questions, batches of {f.BulkBatch:N0}) vs transformers.js batch-32 throughput"),
                new("SemCache", f.BulkEntriesPerSecond, "entries/s"),
                new("transformers.js", f.PeerBulkBatch32PerSecond, "texts/s"),
                Goal.AtLeast(1.5)),
            new(
                string.Create(CultureInfo.InvariantCulture, $"{f.MixedClients} concurrent mixed clients (70 % Get, 30 % Set), fixed rates: highest rate with Get p99 ≤ 3× p50"),
                new("knee", f.KneeRatePerSecond, "requests/s"),
                null,
                Goal.Report,
                f.KneeNote),
        };
        foreach (ExactComparison exact in f.Exact)
        {
            rows.Add(new(
                string.Create(CultureInfo.InvariantCulture, $"exact Gets over gRPC (h2load) vs Redis GET (redis-benchmark), {exact.Concurrency} connections"),
                new("SemCache", exact.GrpcPerSecond, "Gets/s"),
                new("Redis", exact.RedisPerSecond, "GETs/s"),
                Goal.AtLeast(0.5),
                exact.Note));
        }

        return rows;
    }

    /// <summary>The median of the rounds' values; null for none.</summary>
    public static double? Median(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        double[] sorted = [.. values.Where(v => !double.IsNaN(v)).Order()];
        if (sorted.Length == 0)
        {
            return null;
        }

        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>The table as Markdown: workload, SemCache, peer, ratio, goal, met?</summary>
    public static string Markdown(IReadOnlyList<ComparisonRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var md = new StringBuilder();
        md.Append("| workload | SemCache | peer | ratio | goal | met? |\n");
        md.Append("| --- | --- | --- | ---: | --- | --- |\n");
        foreach (ComparisonRow row in rows)
        {
            string ratio = row.Ratio is double r ? r.ToString("0.00", CultureInfo.InvariantCulture) + "×" : "—";
            string met = row.Met switch
            {
                true => "yes",
                false => "**no**",
                null when row.Goal.Direction == GoalDirection.ReportOnly && row.SemCache.Value is not null => "reported",
                _ => "not measured",
            };
            string workload = row.Note is null ? row.Workload : $"{row.Workload} ({row.Note})";
            md.Append(CultureInfo.InvariantCulture, $"| {workload} | {row.SemCache.Describe()} | {row.Peer?.Describe() ?? "—"} | {ratio} | {row.Goal.Describe()} | {met} |\n");
        }

        return md.ToString();
    }
}
