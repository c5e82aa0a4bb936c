using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Grpc.Net.Client;
using SemCache.CacheServer.Configuration;
using SemCache.Protocol.V1;

namespace SemCache.CacheServer.Tests;

/// <summary>The real server process on loopback: start, serve, SIGTERM, exit 0, restart with the data intact.</summary>
public sealed partial class RealProcessTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task TheServerServesOnLoopbackShutsDownGracefullyAndKeepsItsData()
    {
        string data = Path.Combine(Path.GetTempPath(), "semcache-process-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            string id;
            using (ServerProcess server = await ServerProcess.StartAsync(data))
            {
                using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{server.Port}");
                var client = new SemanticCache.SemanticCacheClient(channel);
                id = (await client.SetAsync(new SetRequest { Prompt = "Which port does SemCache use?", Response = "50051 by default." }, cancellationToken: Ct)).Id;
                Assert.True((await client.GetAsync(new GetRequest { Prompt = "What port does SemCache use?" }, cancellationToken: Ct)).Hit);

                // Over Kestrel's HTTP/2, a message over the limit is refused while the client is still sending it.
                Grpc.Core.RpcException tooLarge = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => client.SetAsync(new SetRequest { Prompt = "big", Response = new string('r', 17 << 20) }, cancellationToken: Ct).ResponseAsync);
                Assert.Equal(Grpc.Core.StatusCode.ResourceExhausted, tooLarge.StatusCode);
                Assert.Contains("Server:MaxRequestBytes", tooLarge.Status.Detail, StringComparison.Ordinal);
                Assert.True((await client.GetAsync(new GetRequest { Prompt = "Which port does SemCache use?" }, cancellationToken: Ct)).Hit);

                // Over Kestrel's HTTP/1.1, a JSON body over the limit is 413 naming it, with and without Content-Length.
                using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpPort}") };
                byte[] huge = System.Text.Encoding.UTF8.GetBytes($$"""{ "prompt": "p", "response": "{{new string('r', 31_000_000)}}" }""");
                foreach (bool sized in new[] { true, false })
                {
                    using HttpContent content = sized ? new ByteArrayContent(huge) : new StreamContent(new UnseekableStream(huge));
                    content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/set") { Content = content };
                    request.Headers.ExpectContinue = true;
                    using HttpResponseMessage response = await http.SendAsync(request, Ct);
                    Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
                    Assert.Contains("Server:MaxRequestBytes", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
                }

                Assert.Equal(0, await server.TerminateAsync());
                Assert.Contains("final checkpoint", server.Output, StringComparison.Ordinal);
            }

            using (ServerProcess server = await ServerProcess.StartAsync(data))
            {
                Assert.Contains("1 entries recovered", server.Output, StringComparison.Ordinal);
                using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{server.Port}");
                var client = new SemanticCache.SemanticCacheClient(channel);
                GetResponse exact = await client.GetAsync(new GetRequest { Prompt = "Which port does SemCache use?" }, cancellationToken: Ct);
                Assert.Equal(id, Assert.Single(exact.Matches).Id);
                GetResponse semantic = await client.GetAsync(new GetRequest { Prompt = "What port does SemCache listen on?" }, cancellationToken: Ct);
                Assert.True(semantic.Hit);
                Assert.Equal(0, await server.TerminateAsync());
            }
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }

    [Fact]
    public async Task InStrictModeEveryAcknowledgedSetSurvivesSigkill()
    {
        string data = Path.Combine(Path.GetTempPath(), "semcache-crash-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var acknowledged = new System.Collections.Concurrent.ConcurrentBag<(string Prompt, string Id)>();
            using (ServerProcess server = await ServerProcess.StartAsync(data, "--durability", "strict"))
            {
                using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{server.Port}");
                var client = new SemanticCache.SemanticCacheClient(channel);
                using var stop = new CancellationTokenSource();
                Task[] writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
                {
                    for (int i = 0; !stop.IsCancellationRequested; i++)
                    {
                        string prompt = $"writer {w} question {i}";
                        try
                        {
                            SetResponse set = await client.SetAsync(new SetRequest { Prompt = prompt, Response = $"answer {w}/{i}" });
                            acknowledged.Add((prompt, set.Id));
                        }
                        catch (Grpc.Core.RpcException)
                        {
                            return; // the server is gone: this Set was never acknowledged
                        }
                    }
                })).ToArray();

                while (acknowledged.Count < 100)
                {
                    await Task.Delay(20, Ct);
                }

                server.KillHard();
                await stop.CancelAsync();
                await Task.WhenAll(writers);
            }

            using (ServerProcess server = await ServerProcess.StartAsync(data, "--durability", "strict"))
            {
                using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{server.Port}");
                var client = new SemanticCache.SemanticCacheClient(channel);
                foreach ((string prompt, string id) in acknowledged)
                {
                    GetResponse found = await client.GetAsync(new GetRequest { Prompt = prompt, ExactOnly = true }, cancellationToken: Ct);
                    Assert.True(found.Hit, $"acknowledged Set '{prompt}' (id {id}) was lost");
                    Assert.Equal(id, found.Matches[0].Id);
                }

                Assert.Equal(0, await server.TerminateAsync());
            }
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }

    // Each case: what is wrong, and the words the one line must hold (the option or path, the rule or the fix).
    public static TheoryData<string, string[]> StartUpFailures => new()
    {
        { "bad-threshold", ["Cache:DefaultThreshold", "2", "between -1 and 1"] },
        { "bad-enum", ["Storage:Durability", "'bogus'", "Strict, Periodic, None"] },
        { "bad-number", ["Server:Port", "'abc'"] },
        { "many-bad", ["Cache:DefaultThreshold", "Storage:CommitInterval", "-00:00:01", "Embedding:MaxTokens", "Server:HttpPort"] },
        { "unknown-key", ["Storage:CommitIntervl", "CommitInterval"] },
        { "bad-host", ["Server:Host", "'nowhere'"] },
        { "data-dir-is-a-file", ["Storage:DataDirectory", "is a file"] },
        { "damaged-data-dir", ["Storage:DataDirectory", "cannot be recovered", "OnUnrecoverableData"] },
        { "other-format", ["Storage:DataDirectory", "format=999"] },
        { "port-in-use", ["Server:Port", "in use"] },
        { "missing-model", ["Embedding:ModelPath", "/no/such/vocab.txt"] },
        { "unknown-flag", ["--durabilty", "--durability", "--help"] },
        { "unknown-section", ["--Storag:DataDirectory", "Storage"] },
        { "flag-without-value", ["--durability needs a value"] },
        { "flag-followed-by-a-flag", ["--port needs a value"] },
        { "value-without-flag", ["'strict' is a value without a flag"] },
        { "broken-appsettings", ["appsettings.Broken", ".json"] },
    };

    [Theory]
    [MemberData(nameof(StartUpFailures))]
    public async Task AStartUpFailureIsOneClearLineAndExitCode1Or2ForTheCommandLine(string failure, string[] expected)
    {
        string data = Path.Combine(Path.GetTempPath(), "semcache-startup-test-" + Guid.NewGuid().ToString("N"));
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        string busyPort = ((IPEndPoint)listener.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string[] args = failure switch
        {
            "bad-threshold" => ["--default-threshold", "2"],
            "bad-enum" => ["--durability", "bogus"],
            "bad-number" => ["--port", "abc"],
            "many-bad" => ["--default-threshold", "2", "--Storage:CommitInterval", "-00:00:01", "--Embedding:MaxTokens", "1", "--Server:HttpPort", "70000"],
            "unknown-key" => ["--Storage:CommitIntervl", "00:00:01"],
            "bad-host" => ["--host", "nowhere"],
            "port-in-use" => ["--port", busyPort],
            "missing-model" => ["--model", "/no/such/model.onnx", "--vocab", "/no/such/vocab.txt"],
            "unknown-flag" => ["--durabilty", "strict"],
            "unknown-section" => ["--Storag:DataDirectory", "/tmp"],
            "flag-without-value" => ["--durability"],
            "flag-followed-by-a-flag" => ["--port", "--durability", "Strict"],
            "value-without-flag" => ["strict"],
            _ => [],
        };
        string? environment = null;
        try
        {
            switch (failure)
            {
                case "data-dir-is-a-file":
                    File.WriteAllText(data, "not a directory");
                    break;
                case "damaged-data-dir":
                    Directory.CreateDirectory(Path.Combine(data, "kv"));
                    File.WriteAllText(Path.Combine(data, "kv", "hlog.log.0"), "store data without its FORMAT file");
                    break;
                case "broken-appsettings":
                    environment = "Broken" + Guid.NewGuid().ToString("N")[..8];
                    File.WriteAllText(Path.Combine(AppContext.BaseDirectory, $"appsettings.{environment}.json"), "{ \"Server\": { \"Port\": 1 ");
                    break;
                case "other-format":
                    Directory.CreateDirectory(data);
                    File.WriteAllText(Path.Combine(data, "FORMAT"), "semcache-entry-store format=999\n");
                    break;
            }

            (int exitCode, string stdout, string stderr) = await RunToExitAsync(data, environment, args);
            bool commandLine = failure is "unknown-flag" or "unknown-section" or "flag-without-value" or "flag-followed-by-a-flag" or "value-without-flag";
            Assert.Equal(commandLine ? 2 : 1, exitCode);
            string line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("semcache-server: ", line, StringComparison.Ordinal);
            foreach (string words in expected)
            {
                Assert.Contains(words, line, StringComparison.Ordinal);
            }

            Assert.DoesNotContain("   at ", stdout + stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", stdout + stderr, StringComparison.Ordinal);
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }

            File.Delete(data);
            if (environment is not null)
            {
                File.Delete(Path.Combine(AppContext.BaseDirectory, $"appsettings.{environment}.json"));
            }
        }
    }

    [Fact]
    public async Task HelpListsEveryOptionWithItsDefaultAndStartsNothing()
    {
        // A port in use among the flags: --help must answer without binding it (or anything else).
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        string busyPort = ((IPEndPoint)listener.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (string help in new[] { "--help", "-h" })
        {
            (int exitCode, string stdout, string stderr) = await RunToExitAsync("/nonexistent/semcache-help", null, help, "--port", busyPort);
            Assert.Equal(0, exitCode);
            Assert.Equal("", stderr);
            Assert.Contains("Usage: semcache-server", stdout, StringComparison.Ordinal);
            foreach (OptionInfo option in OptionCatalog.All)
            {
                Assert.Contains($"--{option.Key}  [{option.Default.Replace("`", "", StringComparison.Ordinal)}]", stdout, StringComparison.Ordinal);
            }

            Assert.Contains("--durability, --Storage:Durability  [Periodic]", stdout, StringComparison.Ordinal);
            Assert.Contains("--port, --Server:Port  [50051]", stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("SemCache serving", stdout, StringComparison.Ordinal);
        }

        Assert.False(Directory.Exists("/nonexistent/semcache-help"));
    }

    [Fact]
    public async Task VersionPrintsTheVersionAndStartsNothing()
    {
        (int exitCode, string stdout, string stderr) = await RunToExitAsync("/nonexistent/semcache-version", null, "--version");
        Assert.Equal(0, exitCode);
        Assert.Equal("", stderr);
        Assert.Matches(@"^semcache-server \d+\.\d+\.\d+\S*\n$", stdout.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task VerboseStartUpFailuresShowTheStackTrace()
    {
        string data = Path.Combine(Path.GetTempPath(), "semcache-startup-test-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(data, "not a directory");
        try
        {
            (int exitCode, string stdout, string stderr) = await RunToExitAsync(data, null, "--verbose", "--durability", "bogus");
            Assert.Equal(1, exitCode);
            Assert.StartsWith("semcache-server: ", stderr, StringComparison.Ordinal);
            Assert.Contains("Storage:Durability", stderr, StringComparison.Ordinal);
            Assert.Contains("   at ", stdout + stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(data);
        }
    }

    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunToExitAsync(string dataDirectory, string? environment, params string[] args)
    {
        // Ports of their own, so that only the failure under test can stop the start (a later flag wins).
        string[] all = [ServerProcess.ServerDll, "--data-dir", dataDirectory, "--port", FreePort(), "--http-port", FreePort(), .. args];
        var start = new ProcessStartInfo("dotnet", all) { RedirectStandardError = true, RedirectStandardOutput = true };
        if (environment is not null)
        {
            start.Environment["DOTNET_ENVIRONMENT"] = environment;
        }

        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(Ct);
        Task<string> stderr = process.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw;
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    private static string FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A stream of unknown length, so that HttpClient sends it chunked.</summary>
    private sealed class UnseekableStream(byte[] data) : MemoryStream(data, writable: false)
    {
        public override bool CanSeek => false;
    }

    private sealed partial class ServerProcess : IDisposable
    {
        private readonly Process _process;
        private readonly System.Text.StringBuilder _output = new();

        private ServerProcess(Process process, int port, int httpPort)
        {
            _process = process;
            Port = port;
            HttpPort = httpPort;
        }

        public static string ServerDll => Path.Combine(AppContext.BaseDirectory, "semcache-server.dll");

        public int Port { get; }

        public int HttpPort { get; }

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return _output.ToString();
                }
            }
        }

        public static async Task<ServerProcess> StartAsync(string dataDirectory, params string[] extra)
        {
            int port = FreePort(), httpPort = FreePort();
            var info = new ProcessStartInfo("dotnet", [ServerDll, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--http-port", httpPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data-dir", dataDirectory, .. extra])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            var process = Process.Start(info)!;
            var server = new ServerProcess(process, port, httpPort);
            process.OutputDataReceived += (_, e) => server.Append(e.Data);
            process.ErrorDataReceived += (_, e) => server.Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();

            using var http = new HttpClient();
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (DateTime.UtcNow < deadline)
            {
                Assert.False(process.HasExited, "the server exited during start-up:\n" + server.Output);
                try
                {
                    if ((await http.GetAsync(new Uri($"http://127.0.0.1:{httpPort}/readyz"), Ct)).StatusCode == HttpStatusCode.OK && server.Output.Contains("SemCache serving", StringComparison.Ordinal))
                    {
                        return server;
                    }
                }
                catch (HttpRequestException)
                {
                }

                await Task.Delay(200, Ct);
            }

            process.Kill();
            throw new TimeoutException("the server did not become healthy:\n" + server.Output);
        }

        public async Task<int> TerminateAsync()
        {
            Assert.Equal(0, Kill(_process.Id, 15));
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await _process.WaitForExitAsync(timeout.Token);
            _process.WaitForExit(); // drains the redirected output
            return _process.ExitCode;
        }

        /// <summary>SIGKILL: no shutdown code runs, as in a crash or an OOM kill.</summary>
        public void KillHard()
        {
            Assert.Equal(0, Kill(_process.Id, 9));
            _process.WaitForExit();
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }

            _process.Dispose();
        }

        private void Append(string? line)
        {
            if (line is not null)
            {
                lock (_output)
                {
                    _output.AppendLine(line);
                }
            }
        }

        private static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static partial int Kill(int pid, int signal);
    }
}
