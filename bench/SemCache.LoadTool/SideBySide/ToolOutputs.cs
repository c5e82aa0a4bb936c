using System.Globalization;
using System.Text.RegularExpressions;

namespace SemCache.LoadTool.SideBySide;

/// <summary>What h2load printed for one run.</summary>
/// <param name="RequestsPerSecond">The "finished in …, N req/s" figure.</param>
/// <param name="Done">Requests done.</param>
/// <param name="Succeeded">Requests h2load counts as succeeded (any HTTP status).</param>
/// <param name="Failed">Failed, errored and timed-out requests.</param>
/// <param name="Status2xx">Responses with a 2xx status. gRPC errors are HTTP 200 too: they are caught by checking the server's exact-hit counter.</param>
/// <param name="MeanRequestUs">Mean "time for request", µs.</param>
internal sealed record H2LoadResult(double RequestsPerSecond, long Done, long Succeeded, long Failed, long Status2xx, double MeanRequestUs);

/// <summary>What redis-benchmark --csv printed for one test.</summary>
internal sealed record RedisBenchmarkResult(string Test, double RequestsPerSecond, double P50Ms, double P99Ms);

/// <summary>Parses the text output of the peer load tools, failing loudly on output they would not print.</summary>
internal static partial class ToolOutputs
{
    public static H2LoadResult ParseH2Load(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        Match finished = FinishedLine().Match(text);
        Match requests = RequestsLine().Match(text);
        Match status = StatusLine().Match(text);
        if (!finished.Success || !requests.Success || !status.Success)
        {
            throw new FormatException("not h2load output: no 'finished in', 'requests:' or 'status codes:' line");
        }

        Match time = TimeForRequestLine().Match(text);
        return new H2LoadResult(
            Number(finished.Groups["rps"].Value),
            Long(requests.Groups["done"].Value),
            Long(requests.Groups["succeeded"].Value),
            Long(requests.Groups["failed"].Value) + Long(requests.Groups["errored"].Value) + Long(requests.Groups["timeout"].Value),
            Long(status.Groups["ok"].Value),
            time.Success ? Microseconds(time.Groups["mean"].Value) : 0);
    }

    /// <summary>The row of <paramref name="test"/> (e.g. GET) in redis-benchmark --csv output.</summary>
    public static RedisBenchmarkResult ParseRedisBenchmarkCsv(string text, string test)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string[]? header = null;
        foreach (string line in lines)
        {
            string[] fields = [.. line.Split(',').Select(f => f.Trim('"'))];
            if (header is null)
            {
                if (fields.Length > 1 && fields[0] == "test")
                {
                    header = fields;
                }

                continue;
            }

            if (fields.Length == header.Length && string.Equals(fields[0], test, StringComparison.OrdinalIgnoreCase))
            {
                double Field(string name)
                {
                    int index = Array.IndexOf(header, name);
                    return index < 0 ? double.NaN : Number(fields[index]);
                }

                return new RedisBenchmarkResult(fields[0], Field("rps"), Field("p50_latency_ms"), Field("p99_latency_ms"));
            }
        }

        throw new FormatException(header is null ? "not redis-benchmark --csv output: no header line" : $"redis-benchmark output has no {test} row");
    }

    /// <summary>
    /// Why an h2load run of exact Gets cannot be trusted, or null when it can: every request must be done with a 2xx
    /// status, and the server's counters must show that every Get in the meantime was an exact hit (a gRPC error is
    /// an HTTP 200 too, and h2load never reads the grpc-status trailer). The counters also count h2load's warm-up.
    /// </summary>
    public static string? ExactHitProblem(H2LoadResult run, double getsDelta, double exactHitsDelta)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.Done == 0)
        {
            return "h2load completed no request";
        }

        if (run.Failed > 0 || run.Status2xx != run.Done)
        {
            return string.Create(CultureInfo.InvariantCulture, $"h2load: {run.Done} done, {run.Status2xx} with 2xx, {run.Failed} failed");
        }

        if (exactHitsDelta != getsDelta)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{getsDelta - exactHitsDelta:0} of {getsDelta:0} Gets were not exact hits (gRPC errors or misses)");
        }

        return exactHitsDelta < run.Done
            ? string.Create(CultureInfo.InvariantCulture, $"the server counted {exactHitsDelta:0} exact hits for {run.Done} requests h2load saw done")
            : null;
    }

    private static double Number(string text) => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);

    private static long Long(string text) => long.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture);

    /// <summary>h2load's durations: "812us", "1.23ms", "2.5s".</summary>
    private static double Microseconds(string text)
    {
        Match m = Duration().Match(text);
        if (!m.Success)
        {
            throw new FormatException($"not an h2load duration: '{text}'");
        }

        double value = Number(m.Groups["value"].Value);
        return m.Groups["unit"].Value switch
        {
            "us" => value,
            "ms" => value * 1_000,
            _ => value * 1_000_000,
        };
    }

    [GeneratedRegex(@"finished in [0-9.]+m?s, (?<rps>[0-9.]+) req/s")]
    private static partial Regex FinishedLine();

    [GeneratedRegex(@"requests: (?<total>\d+) total, (?<started>\d+) started, (?<done>\d+) done, (?<succeeded>\d+) succeeded, (?<failed>\d+) failed, (?<errored>\d+) errored, (?<timeout>\d+) timeout")]
    private static partial Regex RequestsLine();

    [GeneratedRegex(@"status codes: (?<ok>\d+) 2xx")]
    private static partial Regex StatusLine();

    [GeneratedRegex(@"time for request:\s+(?<min>\S+)\s+(?<max>\S+)\s+(?<mean>\S+)")]
    private static partial Regex TimeForRequestLine();

    [GeneratedRegex(@"^(?<value>[0-9.]+)(?<unit>us|ms|s)$")]
    private static partial Regex Duration();
}
