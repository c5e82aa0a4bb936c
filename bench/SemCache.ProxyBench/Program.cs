using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using SemCache.ProxyBench;

// semcache-proxy-bench: what the caching proxy adds to a provider call, measured over the wire.
//
// Starts a provider stand-in on loopback (answers at once; streams 20 events 2 ms apart) and a real semcache-server
// (the Release build under artifacts/) pointed at it, then sends, one request at a time and interleaved so that both
// sides meet the same machine: the provider directly, and through the proxy a miss, its exact repeat, a semantic
// repeat (the same question lower-cased), a streamed miss and its streamed repeat. Prints p50/p99 per series and
// what the proxy adds, and checks every x-semcache-status.
//
//   dotnet build -c Release SemCache.sln
//   dotnet artifacts/bin/SemCache.ProxyBench/release/semcache-proxy-bench.dll [--count 300] [--warmup 30] [--texts ../shared/data/qqp-dev.tsv]
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
int count = Flag("--count", 300);
int warmup = Flag("--warmup", 30);
string root = FindRoot();
string texts = FlagText("--texts") ?? Path.Combine(root, "..", "shared", "data", "qqp-dev.tsv");
string server = FlagText("--server") ?? Path.Combine(root, "artifacts", "bin", "SemCache.CacheServer", "release", "semcache-server");

List<string> prompts = File.Exists(texts)
    ? [.. File.ReadLines(texts).Skip(1).Select(l => l.Split('\t')).Where(c => c.Length >= 3 && c[1].Length > 10 && !string.Equals(c[1], c[1].ToLowerInvariant(), StringComparison.Ordinal)).Select(c => c[1]).Distinct().Take(2 * (count + warmup))]
    : [.. Enumerable.Range(0, 2 * (count + warmup)).Select(i => $"How do I configure retention policy number {i} for my Kafka cluster?")];
if (prompts.Count < 2 * (count + warmup))
{
    Console.Error.WriteLine($"only {prompts.Count} distinct prompts in {texts}");
    return 1;
}

await using ProviderStub provider = await ProviderStub.StartAsync(streamEvents: 20, streamGap: TimeSpan.FromMilliseconds(2));
int grpcPort = FreePort(), httpPort = FreePort();
string data = Path.Combine(Path.GetTempPath(), "semcache-proxy-bench-" + Guid.NewGuid().ToString("N"));
// Arguments after "--" go to the server (e.g. -- --Embedding:IntraOpSpinning false).
string[] serverArgs = Array.IndexOf(args, "--") is int dashes and >= 0 ? args[(dashes + 1)..] : [];
using Process process = Process.Start(new ProcessStartInfo(server, ["--data-dir", data, "--port", grpcPort.ToString(CultureInfo.InvariantCulture), "--http-port", httpPort.ToString(CultureInfo.InvariantCulture), "--openai-base-url", provider.BaseUrl, .. serverArgs])
{
    RedirectStandardOutput = true,
    RedirectStandardError = true,
})!;
process.OutputDataReceived += (_, _) => { };
process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine("server: " + e.Data); } };
process.BeginOutputReadLine();
process.BeginErrorReadLine();
try
{
    using var http = new HttpClient(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(30) };
    string proxy = $"http://127.0.0.1:{httpPort}/v1";
    await WaitReadyAsync(http, httpPort);

    var series = new Dictionary<string, Series>(StringComparer.Ordinal);
    Series S(string name) => series.TryGetValue(name, out Series? s) ? s : series[name] = new Series(name);
    string ns = "bench-proxy-" + Guid.NewGuid().ToString("N")[..8];
    // Each round has two prompts never sent before: one for the non-streamed series, one for the streamed ones (a
    // prompt seen before would find its embedding reused and hide the model's time).
    int rounds = count + warmup;
    for (int i = 0; i < rounds; i++)
    {
        bool measured = i >= warmup;
        string p = prompts[i], q = prompts[rounds + i];
        await CallAsync(http, provider.BaseUrl, ns, p + " [direct]", stream: false, measured ? S("direct") : null, expect: null);
        await CallAsync(http, proxy, ns, p, stream: false, measured ? S("proxy miss") : null, expect: "miss");
        await CallAsync(http, proxy, ns, p, stream: false, measured ? S("proxy exact hit") : null, expect: "exact");
        await CallAsync(http, proxy, ns, p.ToLowerInvariant(), stream: false, measured ? S("proxy semantic hit") : null, expect: "semantic");
        await CallAsync(http, provider.BaseUrl, ns, q + " [direct]", stream: true, measured ? S("direct stream") : null, expect: null);
        await CallAsync(http, proxy, ns, q, stream: true, measured ? S("proxy stream miss") : null, expect: "miss");
        await CallAsync(http, proxy, ns, q, stream: true, measured ? S("proxy stream hit") : null, expect: "exact");
    }

    Console.WriteLine($"# Caching proxy, one request at a time ({count} measured per series after {warmup} warm-up; {Environment.ProcessorCount} cores; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)");
    Console.WriteLine();
    Console.WriteLine("| series | p50 ms | p99 ms | p50 first byte ms | p99 first byte ms | statuses |");
    Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
    foreach (Series s in series.Values)
    {
        Console.WriteLine($"| {s.Name} | {s.Total(0.50):F2} | {s.Total(0.99):F2} | {s.FirstByte(0.50):F2} | {s.FirstByte(0.99):F2} | {s.StatusText()} |");
    }

    Console.WriteLine();
    double Added(string a, string b, Func<Series, double, double> f, double q) => f(series[a], q) - f(series[b], q);
    Console.WriteLine($"Added by the proxy at p50 (p99): miss {Added("proxy miss", "direct", (s, q) => s.Total(q), 0.5):F2} ms ({Added("proxy miss", "direct", (s, q) => s.Total(q), 0.99):F2}); "
        + $"streamed miss, first byte {Added("proxy stream miss", "direct stream", (s, q) => s.FirstByte(q), 0.5):F2} ms ({Added("proxy stream miss", "direct stream", (s, q) => s.FirstByte(q), 0.99):F2}), "
        + $"whole stream {Added("proxy stream miss", "direct stream", (s, q) => s.Total(q), 0.5):F2} ms ({Added("proxy stream miss", "direct stream", (s, q) => s.Total(q), 0.99):F2}). "
        + $"Exact hit / direct call at p50: {series["proxy exact hit"].Total(0.5) / series["direct"].Total(0.5):F2}×; semantic hit: {series["proxy semantic hit"].Total(0.5) / series["direct"].Total(0.5):F2}×.");
    Console.WriteLine($"Provider calls: {provider.Calls} (expected {rounds * 4}: direct, miss, direct stream, stream miss per prompt).");
    bool right = series.Values.All(s => s.Unexpected == 0) && provider.Calls == rounds * 4;
    Console.WriteLine(right ? "Every status was as expected." : "UNEXPECTED statuses or provider calls: see the table.");
    return right ? 0 : 1;
}
finally
{
    process.Kill(entireProcessTree: true);
    await process.WaitForExitAsync();
    Directory.Delete(data, recursive: true);
}

static async Task CallAsync(HttpClient http, string baseUrl, string ns, string prompt, bool stream, Series? series, string? expect)
{
    // The streamed series have a system prompt of their own: their entries are another partition than the others'.
    var body = new JsonObject
    {
        ["model"] = "gpt-4o-mini",
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "system", ["content"] = stream ? "Answer briefly, as a stream." : "Answer briefly." }, new JsonObject { ["role"] = "user", ["content"] = prompt }),
    };
    if (stream)
    {
        body["stream"] = true;
    }

    using var request = new HttpRequestMessage(HttpMethod.Post, baseUrl + "/chat/completions") { Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json") };
    request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "sk-bench");
    request.Headers.Add("x-semcache-namespace", ns);
    long start = Stopwatch.GetTimestamp();
    using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    await using Stream content = await response.Content.ReadAsStreamAsync();
    byte[] buffer = new byte[16 * 1024];
    int read = await content.ReadAsync(buffer);
    double firstByte = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    while (read > 0)
    {
        read = await content.ReadAsync(buffer);
    }

    double total = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    if (!response.IsSuccessStatusCode)
    {
        throw new InvalidOperationException($"{baseUrl}: {(int)response.StatusCode}");
    }

    string status = response.Headers.TryGetValues("x-semcache-status", out IEnumerable<string>? values) ? values.First() : "direct";
    series?.Add(total, firstByte, status, expect is null || status == expect);
}

static async Task WaitReadyAsync(HttpClient http, int port)
{
    for (int i = 0; i < 600; i++)
    {
        try
        {
            using HttpResponseMessage ready = await http.GetAsync($"http://127.0.0.1:{port}/readyz");
            if (ready.IsSuccessStatusCode)
            {
                return;
            }
        }
        catch (HttpRequestException)
        {
        }

        await Task.Delay(100);
    }

    throw new TimeoutException("the server did not become ready in 60 s");
}

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

static string FindRoot()
{
    for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
    {
        if (File.Exists(Path.Combine(dir, "SemCache.sln")))
        {
            return dir;
        }
    }

    return Environment.CurrentDirectory;
}

int Flag(string name, int fallback) => FlagText(name) is string v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

string? FlagText(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

internal sealed class Series(string name)
{
    private readonly List<double> _total = [];
    private readonly List<double> _firstByte = [];
    private readonly Dictionary<string, int> _statuses = new(StringComparer.Ordinal);

    public string Name => name;

    public int Unexpected { get; private set; }

    public void Add(double total, double firstByte, string status, bool expected)
    {
        _total.Add(total);
        _firstByte.Add(firstByte);
        _statuses[status] = _statuses.GetValueOrDefault(status) + 1;
        Unexpected += expected ? 0 : 1;
    }

    public double Total(double q) => Quantile(_total, q);

    public double FirstByte(double q) => Quantile(_firstByte, q);

    public string StatusText() => string.Join(", ", _statuses.Select(s => $"{s.Key} {s.Value}"));

    private static double Quantile(List<double> values, double q)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        double[] sorted = [.. values.Order()];
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
    }
}
