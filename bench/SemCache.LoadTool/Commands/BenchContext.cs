using System.Diagnostics;
using System.Globalization;
using SemCache.LoadTool.Data;
using SemCache.LoadTool.Load;
using SemCache.LoadTool.Reports;
using Spectre.Console;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// What every server-facing command shares: the connection, the run's own namespace, the output folder, the progress
/// display, the load-shape flags and the result being filled in.
/// </summary>
internal sealed class BenchContext : IDisposable
{
    private BenchContext(Flags flags, RunResult result, CacheConnection connection, string ns, string outDirectory, ProgressDisplay progress, bool keepNamespace, int seed)
    {
        Flags = flags;
        Result = result;
        Connection = connection;
        Namespace = ns;
        OutDirectory = outDirectory;
        Progress = progress;
        KeepNamespace = keepNamespace;
        Seed = seed;
    }

    public Flags Flags { get; }

    public RunResult Result { get; }

    public CacheConnection Connection { get; }

    public string Namespace { get; }

    public string OutDirectory { get; }

    public ProgressDisplay Progress { get; }

    public bool KeepNamespace { get; }

    public int Seed { get; }

    /// <summary>Reads the common flags: --server/--port, --namespace, --out, --no-progress, --keep-namespace, --seed.</summary>
    public static BenchContext Create(string command, IReadOnlyList<string> args, Flags flags)
    {
        ArgumentNullException.ThrowIfNull(flags);
        string server = flags.String("server") ?? $"http://127.0.0.1:{flags.Int("port", 50051)}";
        if (!Uri.TryCreate(server, UriKind.Absolute, out Uri? address))
        {
            throw new UsageException($"--server: '{server}' is not an absolute URL such as http://127.0.0.1:50051");
        }

        DateTimeOffset started = DateTimeOffset.UtcNow;
        string runName = $"{command}-{started.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}";
        string outDirectory = Path.GetFullPath(flags.String("out") ?? Path.Combine(DefaultResultsFolder(), runName));
        Directory.CreateDirectory(outDirectory);
        string ns = flags.String("namespace") ?? CacheConnection.NewRunNamespace("bench-" + command);
        var result = new RunResult
        {
            Command = command,
            CommandLine = $"semcache-bench {command} " + string.Join(' ', args.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a)),
            StartedUtc = started,
            Machine = MachineInfo.Current(),
            Server = address.ToString(),
            Namespace = ns,
        };
        return new BenchContext(flags, result, new CacheConnection(address), ns, outDirectory, new ProgressDisplay(!flags.Switch("no-progress")), flags.Switch("keep-namespace"), flags.Int("seed", 42));
    }

    /// <summary>
    /// The load shape from --concurrency, --rate, --duration (seconds) and --count. A workload with a natural size (one
    /// pass over a pair file) passes it as <paramref name="fixedCount"/>, and then --duration and --count do not apply.
    /// </summary>
    public LoadShape ReadShape(long? fixedCount, double defaultSeconds)
    {
        int concurrency = Flags.Int("concurrency", 8);
        double? rate = Flags.Double("rate");
        double? seconds = Flags.Double("duration");
        long? count = Flags.Int("count");
        if (concurrency < 1)
        {
            throw new UsageException("--concurrency must be at least 1");
        }

        if (rate is <= 0)
        {
            throw new UsageException("--rate must be positive");
        }

        if (fixedCount is not null && (seconds is not null || count is not null))
        {
            throw new UsageException("this workload makes one pass over its pair file: use --limit to size it, not --duration or --count");
        }

        if (seconds is not null && count is not null)
        {
            throw new UsageException("give --duration or --count, not both");
        }

        LoadShape shape = fixedCount is long n ? new LoadShape(concurrency, rate, n, null)
            : count is long c ? new LoadShape(concurrency, rate, c, null)
            : new LoadShape(concurrency, rate, null, TimeSpan.FromSeconds(seconds ?? defaultSeconds));
        Result.Settings["concurrency"] = concurrency.ToString(CultureInfo.InvariantCulture);
        Result.Settings["mode"] = rate is null ? "closed-loop" : $"fixed-rate {rate.Value.ToString(CultureInfo.InvariantCulture)}/s";
        return shape;
    }

    /// <summary>--warmup: seconds of the same workload before measuring, whose results are thrown away (default 2).</summary>
    public TimeSpan ReadWarmup()
    {
        double seconds = Flags.Double("warmup", 2);
        Result.Settings["warmup_s"] = seconds.ToString(CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(Math.Max(0, seconds));
    }

    public IReadOnlyList<LabelledPair> ReadPairs(string defaultFile, int? defaultLimit)
    {
        string path = Flags.String("pairs") ?? DataFiles.Default(defaultFile);
        int? limit = Flags.Int("limit") ?? defaultLimit;
        IReadOnlyList<LabelledPair> pairs = PairFile.Load(path, limit);
        if (pairs.Count == 0)
        {
            throw new UsageException($"{path} has no rows");
        }

        Result.Settings["pairs"] = Path.GetFullPath(path);
        Result.Settings["rows"] = pairs.Count.ToString(CultureInfo.InvariantCulture);
        return pairs;
    }

    /// <summary>SetMany of the distinct texts (--preload-batch, default 256; --preload-concurrency, default 2).</summary>
    public async Task<Dictionary<string, string>> PreloadAsync(IEnumerable<string> texts, CancellationToken cancellationToken)
    {
        int batch = Flags.Int("preload-batch", 256);
        int parallelism = Flags.Int("preload-concurrency", 2);
        string[] distinct = [.. texts.Select(PromptNormalizer.Normalize).Distinct(StringComparer.Ordinal)];
        long started = Stopwatch.GetTimestamp();
        Dictionary<string, string> ids = await Progress.RunAsync(
            $"preload {distinct.Length:N0} entries (SetMany)",
            distinct.Length,
            null,
            sink => Connection.PreloadAsync(Namespace, distinct, batch, parallelism, sink, cancellationToken)).ConfigureAwait(false);
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        Result.Preload = new PreloadReport(ids.Count, Math.Round(seconds, 2), Math.Round(ids.Count / seconds, 1));
        return ids;
    }

    /// <summary>Runs the warm-up (if any) and then the measured phase, and fills in <see cref="RunResult.Load"/>.</summary>
    public async Task<PhaseResult> RunLoadAsync(string title, LoadShape shape, TimeSpan warmup, Func<long, CancellationToken, Task> warmupOperation, Func<long, CancellationToken, Task> operation, LatencyRecorder latencies, CancellationToken cancellationToken, LatencyRecorder? getLatencies = null, LatencyRecorder? setLatencies = null)
    {
        PhaseResult? warm = null;
        if (warmup > TimeSpan.Zero)
        {
            var warmShape = shape with { Count = null, Duration = warmup };
            warm = await Progress.RunAsync("warm-up", null, warmup, sink => LoadDriver.RunAsync(warmShape, warmupOperation, null, sink, cancellationToken)).ConfigureAwait(false);
        }

        PhaseResult measured = await Progress.RunAsync($"{title} ({shape.Describe()})", shape.Count, shape.Duration, sink => LoadDriver.RunAsync(shape, operation, latencies, sink, cancellationToken)).ConfigureAwait(false);
        Result.Load = new LoadReport(
            shape.Describe(),
            measured.Requests,
            measured.Errors,
            measured.FirstError,
            Math.Round(measured.Elapsed.TotalSeconds, 3),
            Math.Round(measured.Throughput, 1),
            latencies.Summarize(),
            getLatencies?.Summarize(),
            setLatencies?.Summarize(),
            measured.SendLag,
            warm?.Requests ?? 0,
            Math.Round(warm?.Elapsed.TotalSeconds ?? 0, 2));
        if (measured.Errors > 0)
        {
            AnsiConsole.MarkupLineInterpolated(System.Globalization.CultureInfo.InvariantCulture, $"[red]{measured.Errors} request(s) failed[/]; first: {measured.FirstError}");
        }

        return measured;
    }

    /// <summary>Writes the latency chart, result.json and summary.md, prints the summary, and drops the run's namespace.</summary>
    public async Task<int> FinishAsync(LatencyRecorder? latencies)
    {
        if (latencies is not null && latencies.Histogram.TotalCount > 0)
        {
            Charts.LatencyDistribution(Path.Combine(OutDirectory, "latency.png"), latencies.Distribution(), latencies.Histogram.TotalCount, $"semcache-bench {Result.Command}: latency by percentile");
            Result.Files.Add("latency.png");
        }

        if (!KeepNamespace)
        {
            try
            {
                await Connection.DeleteNamespaceAsync(Namespace).ConfigureAwait(false);
            }
            catch (Grpc.Core.RpcException e)
            {
                Result.Notes.Add($"the run's namespace could not be deleted: {e.Status.Detail}");
            }
        }

        ResultWriter.Write(Result, OutDirectory);
        Console.WriteLine();
        Console.WriteLine(ResultWriter.Markdown(Result));
        Console.WriteLine($"results: {OutDirectory}");
        return Result.Load is { Errors: > 0 } ? 1 : 0;
    }

    public void Dispose() => Connection.Dispose();

    /// <summary>bench/SemCache.LoadTool/results, found from the current directory upward; ./results when not in the repository.</summary>
    private static string DefaultResultsFolder()
    {
        for (DirectoryInfo? directory = new(Directory.GetCurrentDirectory()); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "SemCache.LoadTool.csproj")))
            {
                return Path.Combine(directory.FullName, "results");
            }

            string tool = Path.Combine(directory.FullName, "bench", "SemCache.LoadTool");
            if (Directory.Exists(tool))
            {
                return Path.Combine(tool, "results");
            }
        }

        return Path.Combine(Directory.GetCurrentDirectory(), "results");
    }
}
