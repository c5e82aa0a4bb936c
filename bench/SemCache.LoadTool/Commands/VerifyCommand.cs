using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// Helpers for scripts (smoke.sh, CI): check a run's outputs, find a free port, wait for a server to be ready.
/// They keep the scripts free of python, jq or nc, which a CI machine may lack.
/// </summary>
internal static class VerifyCommand
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>verify DIR...: each folder's result.json parses and is sane, and the files it lists exist (PNGs are PNGs).</summary>
    public static int Run(IReadOnlyList<string> args)
    {
        Flags flags = Flags.Parse(args);
        flags.ThrowOnUnused();
        if (flags.Positionals.Count == 0)
        {
            throw new UsageException("verify needs one or more result folders");
        }

        int failures = 0;
        foreach (string folder in flags.Positionals)
        {
            List<string> problems = Check(folder);
            failures += problems.Count;
            Console.WriteLine(problems.Count == 0 ? $"ok   {folder}" : $"FAIL {folder}: {string.Join("; ", problems)}");
        }

        return failures == 0 ? 0 : 1;
    }

    internal static List<string> Check(string folder)
    {
        var problems = new List<string>();
        string json = Path.Combine(folder, "result.json");
        if (!File.Exists(json))
        {
            problems.Add("no result.json");
            return problems;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllText(json));
        }
        catch (JsonException e)
        {
            problems.Add($"result.json does not parse: {e.Message}");
            return problems;
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (!root.TryGetProperty("load", out JsonElement load))
            {
                problems.Add("no load section");
            }
            else
            {
                if (load.GetProperty("requests").GetInt64() <= 0)
                {
                    problems.Add("no request completed");
                }

                if (load.GetProperty("throughputPerSecond").GetDouble() <= 0)
                {
                    problems.Add("zero throughput");
                }

                if (load.GetProperty("errors").GetInt64() != 0)
                {
                    problems.Add($"{load.GetProperty("errors").GetInt64()} errors");
                }

                JsonElement latency = load.GetProperty("latency");
                long p50 = latency.GetProperty("p50Us").GetInt64(), p99 = latency.GetProperty("p99Us").GetInt64(), max = latency.GetProperty("maxUs").GetInt64();
                if (p50 <= 0 || p50 > p99 || p99 > max)
                {
                    problems.Add($"latency percentiles out of order (p50 {p50}, p99 {p99}, max {max} µs)");
                }
            }

            if (root.TryGetProperty("quality", out JsonElement quality))
            {
                JsonElement counts = quality.GetProperty("counts");
                int queries = counts.GetProperty("queries").GetInt32();
                int sum = counts.GetProperty("correct").GetInt32() + counts.GetProperty("wrong").GetInt32() + counts.GetProperty("misses").GetInt32();
                if (queries != quality.GetProperty("rows").GetInt32() || sum != queries)
                {
                    problems.Add("correct + wrong + misses does not add up to the rows queried");
                }
            }

            foreach (JsonElement file in root.GetProperty("files").EnumerateArray())
            {
                string path = Path.Combine(folder, file.GetString()!);
                if (!File.Exists(path) || new FileInfo(path).Length == 0)
                {
                    problems.Add($"{file.GetString()} missing or empty");
                }
                else if (path.EndsWith(".png", StringComparison.Ordinal) && !File.ReadAllBytes(path).AsSpan().StartsWith(PngSignature))
                {
                    problems.Add($"{file.GetString()} is not a PNG");
                }
            }

            string command = root.GetProperty("command").GetString() ?? string.Empty;
            if (command is "pairs" or "calibrate" or "gptcache" && !File.Exists(Path.Combine(folder, "precision-recall.png")))
            {
                problems.Add("no precision-recall.png");
            }

            if (!File.Exists(Path.Combine(folder, "latency.png")))
            {
                problems.Add("no latency.png");
            }
        }

        return problems;
    }

    /// <summary>free-port: prints a TCP port free on 127.0.0.1 now (the OS picks it).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Console.WriteLine(((IPEndPoint)listener.LocalEndpoint).Port);
        return 0;
    }

    /// <summary>wait-ready --http-port P [--timeout S]: polls GET /readyz until it answers 200.</summary>
    public static async Task<int> WaitReadyAsync(IReadOnlyList<string> args)
    {
        Flags flags = Flags.Parse(args);
        int port = flags.Int("http-port", 8080);
        double timeout = flags.Double("timeout", 120);
        flags.ThrowOnUnused();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(timeout);
        var url = new Uri($"http://127.0.0.1:{port}/readyz");
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using HttpResponseMessage response = await http.GetAsync(url).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Console.WriteLine($"ready: {url}");
                    return 0;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Slow to answer while starting.
            }

            await Task.Delay(250).ConfigureAwait(false);
        }

        Console.Error.WriteLine($"not ready after {timeout} s: {url}");
        return 1;
    }
}
