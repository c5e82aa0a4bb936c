using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using SemCache.Cache.Telemetry;
using SemCache.Protocol.V1;

namespace SemCache.CacheServer.Tests;

/// <summary>
/// /metrics after a known workload, on a server of its own (so every value is exact), and a Get's trace collected by
/// an in-memory exporter.
/// </summary>
public sealed class TelemetryTests
{
    private const string PricedPrompt = "what is the capital of france";
    private const string UnpricedPrompt = "how many legs does a spider have";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task MetricsAndTracesDescribeAKnownWorkload()
    {
        string data = Path.Combine(Path.GetTempPath(), "semcache-telemetry-test-" + Guid.NewGuid().ToString("N"));
        var spans = new List<Activity>();
        await using WebApplication app = SemCacheServer.Build(["--data-dir", data, "--durability", "Strict", "--Observability:MaxNamespaceLabels", "2"], builder =>
        {
            builder.WebHost.UseTestServer();
            builder.Services.AddOpenTelemetry().WithTracing(t => t.AddSource(CacheTelemetry.Name).AddInMemoryExporter(spans));
        });
        await app.StartAsync(Ct);
        try
        {
            using GrpcChannel channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = app.GetTestServer().CreateHandler() });
            using HttpClient http = app.GetTestServer().CreateClient();
            var client = new SemanticCache.SemanticCacheClient(channel);
            IReadOnlyList<Metrics.Sample> before = Metrics.Parse(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct));
            AssertEveryBucket(before);

            // Namespaces a and b keep their labels (the first two written), c is "other".
            await client.SetAsync(new SetRequest { Namespace = "a", Prompt = PricedPrompt, Response = "Paris", Usage = new Usage { Model = "gpt-4o", InputTokens = 100, OutputTokens = 50 } }, cancellationToken: Ct);
            await client.SetAsync(new SetRequest { Namespace = "a", Prompt = UnpricedPrompt, Response = "Eight", Usage = new Usage { Model = "in-house-model", InputTokens = 10, OutputTokens = 10 } }, cancellationToken: Ct);
            await client.SetAsync(new SetRequest { Namespace = "b", Prompt = PricedPrompt, Response = "Paris" }, cancellationToken: Ct);
            await client.SetAsync(new SetRequest { Namespace = "c", Prompt = PricedPrompt, Response = "Paris" }, cancellationToken: Ct);

            Assert.True((await client.GetAsync(new GetRequest { Namespace = "a", Prompt = PricedPrompt }, cancellationToken: Ct)).Matches[0].Exact);
            Assert.True((await client.GetAsync(new GetRequest { Namespace = "a", Prompt = UnpricedPrompt }, cancellationToken: Ct)).Matches[0].Exact);
            GetResponse semantic = await client.GetAsync(new GetRequest { Namespace = "a", Prompt = "tell me the capital city of france", MinSimilarity = 0.5f }, cancellationToken: Ct);
            Assert.True(semantic.Hit && !semantic.Matches[0].Exact);
            Assert.False((await client.GetAsync(new GetRequest { Namespace = "a", Prompt = "a recipe for sourdough bread with rye flour", MinSimilarity = 0.99f }, cancellationToken: Ct)).Hit);
            Assert.False((await client.GetAsync(new GetRequest { Namespace = "c", Prompt = "something never stored" }, cancellationToken: Ct)).Hit);
            RpcException bad = await Assert.ThrowsAsync<RpcException>(() => client.GetAsync(new GetRequest { Namespace = "a", Prompt = "x", TopK = 1_000_000 }, cancellationToken: Ct).ResponseAsync);
            Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, bad.StatusCode);

            using (var json = new StringContent("{\"namespace\":\"a\",\"prompt\":\"what is the capital of france\"}", System.Text.Encoding.UTF8, "application/json"))
            using (HttpResponseMessage viaHttp = await http.PostAsync(new Uri("/v1/get", UriKind.Relative), json, Ct))
            {
                Assert.Equal(System.Net.HttpStatusCode.OK, viaHttp.StatusCode);
            }

            StatsResponse stats = await client.StatsAsync(new StatsRequest { Namespace = "a" }, cancellationToken: Ct);
            Assert.Equal(20ul, stats.UnpricedTokens);
            Assert.Equal(470ul, stats.TokensSaved);
            Assert.Equal(3 * ((100 * 2.5) + (50 * 10)) / 1e6, stats.CostSavedUsd, 9);

            string text = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct);
            IReadOnlyList<Metrics.Sample> after = Metrics.Parse(text);
            Assert.Equal(3, Metrics.Sum(after, "semcache_gets_total", ("namespace", "a"), ("result", "exact")));
            Assert.Equal(1, Metrics.Sum(after, "semcache_gets_total", ("namespace", "a"), ("result", "semantic")));
            Assert.Equal(1, Metrics.Sum(after, "semcache_gets_total", ("namespace", "a"), ("result", "miss")));
            Assert.Equal(1, Metrics.Sum(after, "semcache_gets_total", ("namespace", "other"), ("result", "miss")));
            Assert.Equal(2, Metrics.Sum(after, "semcache_sets_total", ("namespace", "a")));
            Assert.Equal(1, Metrics.Sum(after, "semcache_sets_total", ("namespace", "b")));
            Assert.Equal(1, Metrics.Sum(after, "semcache_sets_total", ("namespace", "other")));
            Assert.Empty(Metrics.Find(after, "semcache_sets_total", ("namespace", "c")));
            Assert.Equal(450, Metrics.Sum(after, "semcache_tokens_saved_total", ("namespace", "a"), ("model", "gpt-4o")));
            Assert.Equal(20, Metrics.Sum(after, "semcache_tokens_saved_total", ("namespace", "a"), ("model", "in-house-model")));
            Assert.Equal(20, Metrics.Sum(after, "semcache_unpriced_tokens_total", ("namespace", "a"), ("model", "in-house-model")));
            Assert.Equal(0.00225, Metrics.Sum(after, "semcache_cost_saved_usd_total", ("namespace", "a"), ("model", "gpt-4o")), 9);
            Assert.Equal(4, Metrics.Sum(after, "semcache_entries"));
            Assert.Equal(4, Metrics.Sum(after, "semcache_requests_total", ("method", "Set"), ("code", "OK"), ("transport", "grpc")));
            Assert.Equal(5, Metrics.Sum(after, "semcache_requests_total", ("method", "Get"), ("code", "OK"), ("transport", "grpc")));
            Assert.Equal(1, Metrics.Sum(after, "semcache_requests_total", ("method", "Get"), ("code", "INVALID_ARGUMENT"), ("transport", "grpc")));
            Assert.Equal(1, Metrics.Sum(after, "semcache_requests_total", ("method", "Get"), ("code", "OK"), ("transport", "http")));
            Assert.Equal(1, Metrics.Sum(after, "semcache_request_seconds_count", ("method", "Get"), ("transport", "http")));
            Assert.Equal(6, Metrics.Sum(after, "semcache_stage_seconds_count", ("stage", "get")));
            Assert.Equal(4, Metrics.Sum(after, "semcache_stage_seconds_count", ("stage", "set")));
            Assert.Equal(1, Metrics.Sum(after, "semcache_best_similarity_count", ("result", "semantic")));
            Assert.True(Metrics.Sum(after, "semcache_stored_bytes") > 0);
            Assert.True(Metrics.Sum(after, "semcache_embedding_batch_size_count") >= 1);
            // Strict durability: each Set waited for a commit (the first commit's report has long been made by the fourth Set's end).
            Assert.True(Metrics.Sum(after, "semcache_commit_seconds_count") >= 1);
            Metrics.Sample build = Assert.Single(Metrics.Find(after, "semcache_build_info"));
            Assert.Equal(1, build.Value);
            Assert.False(string.IsNullOrEmpty(build.Labels["model"]));
            Assert.Equal("Float32", build.Labels["precision"]);
            Assert.Contains(after, s => s.Name.StartsWith("process_", StringComparison.Ordinal));
            Assert.Contains(after, s => s.Name.StartsWith("dotnet_", StringComparison.Ordinal));
            AssertEveryBucket(after);

            // The dashboard and the README's metrics table name only metrics the server exposes.
            HashSet<string> exposed = [.. text.Split('\n').Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal)).Select(l => l.Split(' ')[2])];
            string root = RepositoryFiles.Root;
            string dashboard = File.ReadAllText(Path.Combine(root, "deploy", "grafana", "semcache.json"));
            string readme = File.ReadAllText(Path.Combine(root, "README.md"));
            IEnumerable<string> named = Regex.Matches(dashboard, "semcache_[a-z_]+").Select(m => Regex.Replace(m.Value, "_(bucket|sum|count)$", ""))
                .Concat(Regex.Matches(readme, @"^\| `(semcache_[a-z_]+)`", RegexOptions.Multiline).Select(m => m.Groups[1].Value));
            foreach (string name in named)
            {
                Assert.Contains(name, exposed);
            }

            // The semantic hit's trace: a get span with each stage as a child, the namespace and result, no prompt text. The
            // activity source is the process's: spans of other tests' servers are told apart by their namespaces.
            Activity[] collected = [.. spans];
            Activity get = Assert.Single(collected, s => s.OperationName == "semcache.get" && (string?)s.GetTagItem("semcache.result") == "semantic" && (string?)s.GetTagItem("semcache.namespace") == "a");
            Assert.Equal("a", get.GetTagItem("semcache.namespace"));
            Assert.True((float)get.GetTagItem("semcache.best_similarity")! >= 0.5f);
            string[] children = [.. collected.Where(s => s.ParentSpanId == get.SpanId).Select(s => s.OperationName)];
            Assert.Equal(["semcache.exact_lookup", "semcache.embed", "semcache.search", "semcache.fetch"], children);
            Activity embed = collected.Single(s => s.ParentSpanId == get.SpanId && s.OperationName == "semcache.embed");
            Assert.NotNull(embed.GetTagItem("semcache.embed.queue_wait_ms"));
            Assert.NotNull(embed.GetTagItem("semcache.embed.model_ms"));
            foreach (Activity span in collected)
            {
                foreach (KeyValuePair<string, object?> tag in span.TagObjects)
                {
                    string value = Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "";
                    Assert.DoesNotContain("capital", value, StringComparison.OrdinalIgnoreCase);
                    Assert.DoesNotContain("Paris", value, StringComparison.Ordinal);
                }
            }
        }
        finally
        {
            await app.StopAsync(Ct);
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task OtlpOverHttpDeliversMetricsAndTracesToEachSignalsPath()
    {
        // A collector of our own on a loopback port: it records the path of every export it receives.
        var received = new System.Collections.Concurrent.ConcurrentQueue<string>();
        WebApplicationBuilder collectorBuilder = WebApplication.CreateSlimBuilder();
        collectorBuilder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        await using WebApplication collector = collectorBuilder.Build();
        collector.MapPost("/{**path}", (Microsoft.AspNetCore.Http.HttpContext context) =>
        {
            received.Enqueue(context.Request.Path.Value ?? "");
            return Microsoft.AspNetCore.Http.Results.Ok();
        });
        await collector.StartAsync(Ct);
        string address = collector.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.Single();

        string data = Path.Combine(Path.GetTempPath(), "semcache-telemetry-otlp-" + Guid.NewGuid().ToString("N"));
        // The standard variables, as configuration: http/protobuf, and short export intervals for the test.
        await using WebApplication app = SemCacheServer.Build(["--data-dir", data, "--Observability:OtlpEndpoint", address], builder =>
        {
            builder.WebHost.UseTestServer();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
                ["OTEL_METRIC_EXPORT_INTERVAL"] = "200",
                ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
            });
        });
        await app.StartAsync(Ct);
        try
        {
            using HttpClient http = app.GetTestServer().CreateClient();
            using (var set = new StringContent("{\"namespace\":\"otlp\",\"prompt\":\"what is the capital of italy\",\"response\":\"Rome\"}", System.Text.Encoding.UTF8, "application/json"))
            using (HttpResponseMessage stored = await http.PostAsync(new Uri("/v1/set", UriKind.Relative), set, Ct))
            {
                stored.EnsureSuccessStatusCode();
            }

            using (var get = new StringContent("{\"namespace\":\"otlp\",\"prompt\":\"which city is the capital of italy\"}", System.Text.Encoding.UTF8, "application/json"))
            using (HttpResponseMessage hit = await http.PostAsync(new Uri("/v1/get", UriKind.Relative), get, Ct))
            {
                hit.EnsureSuccessStatusCode();
            }

            // Waits for the exports (not a timing assertion: the limit only ends a test that would otherwise hang).
            long waitingSince = Stopwatch.GetTimestamp();
            while (!(received.Contains("/v1/metrics") && received.Contains("/v1/traces")))
            {
                Assert.True(Stopwatch.GetElapsedTime(waitingSince) < TimeSpan.FromSeconds(60),
                    $"no export reached both /v1/metrics and /v1/traces; paths received: {string.Join(", ", received.Distinct())}");
                await Task.Delay(50, Ct);
            }

            Assert.All(received, path => Assert.True(path is "/v1/metrics" or "/v1/traces", $"an export to {path}"));
        }
        finally
        {
            await app.StopAsync(Ct);
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public void BadObservabilityOptionsStopStartUpNamingTheKey()
    {
        string data = Path.Combine(Path.GetTempPath(), "semcache-telemetry-options-" + Guid.NewGuid().ToString("N"));
        var labels = Assert.Throws<Configuration.StartupException>(() => SemCacheServer.Build(["--data-dir", data, "--Observability:MaxNamespaceLabels", "-1"], b => b.WebHost.UseTestServer()));
        Assert.Contains("Observability:MaxNamespaceLabels must be between 0 and 10000, got -1", labels.Message, StringComparison.Ordinal);
        var endpoint = Assert.Throws<Configuration.StartupException>(() => SemCacheServer.Build(["--data-dir", data, "--Observability:OtlpEndpoint", "collector:4317"], b => b.WebHost.UseTestServer()));
        Assert.Contains("Observability:OtlpEndpoint must be an http:// or https:// URI", endpoint.Message, StringComparison.Ordinal);
        var unknown = Assert.Throws<Configuration.StartupException>(() => SemCacheServer.Build(["--data-dir", data, "--Observability:MaxLabels", "5"], b => b.WebHost.UseTestServer()));
        Assert.Contains("Observability:MaxLabels is not an option", unknown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheShippedPriceTableIsExtendedAndOverriddenByConfiguration()
    {
        IConfiguration configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"))
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Cache:ModelPrices:gpt-4o:InputPerMillion"] = "1",
                ["Cache:ModelPrices:in-house-model:InputPerMillion"] = "0.5",
                ["Cache:ModelPrices:in-house-model:OutputPerMillion"] = "1.5",
            })
            .Build();
        Cache.CacheOptions options = configuration.GetSection(Cache.CacheOptions.SectionName).Get<Cache.CacheOptions>()!;

        Assert.Equal(1, options.ModelPrices["gpt-4o"].InputPerMillion);
        Assert.Equal(10, options.ModelPrices["gpt-4o"].OutputPerMillion);
        Assert.Equal(1.5, options.ModelPrices["in-house-model"].OutputPerMillion);
        foreach (string model in new[] { "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite" })
        {
            Assert.True(options.ModelPrices[model].InputPerMillion > 0 && options.ModelPrices[model].OutputPerMillion > 0, model);
        }

        Assert.False(string.IsNullOrEmpty(options.ModelPricesAsOf));
    }

    // Every series of every SemCache histogram has all of its documented buckets, whether or not they are empty.
    private static void AssertEveryBucket(IReadOnlyList<Metrics.Sample> samples)
    {
        foreach (IGrouping<string, Metrics.Sample> series in samples
            .Where(s => s.Name.StartsWith("semcache_", StringComparison.Ordinal) && s.Name.EndsWith("_bucket", StringComparison.Ordinal))
            .GroupBy(s => s.Name + "{" + string.Join(",", s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value)) + "}"))
        {
            string name = series.First().Name;
            IEnumerable<double> documented = name switch
            {
                "semcache_best_similarity_bucket" => CacheTelemetry.SimilarityBuckets,
                "semcache_embedding_batch_size_bucket" => Embedding.TextEmbedder.BatchSizeBuckets.Select(b => (double)b),
                _ => CacheTelemetry.LatencyBuckets,
            };
            double[] expected = [.. documented, double.PositiveInfinity];
            double[] exposed = [.. series.Select(s => double.Parse(s.Labels["le"] == "+Inf" ? "Infinity" : s.Labels["le"], CultureInfo.InvariantCulture))];
            Assert.Equal(expected, exposed);
        }
    }
}
