using System.Net;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SemCache.CacheServer.Tests;

/// <summary>Readiness (/readyz, grpc.health.v1) follows the engine's ability to take writes; liveness (/healthz) does not.</summary>
public sealed class HealthTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task AStoreThatCannotTakeWritesIsNotReadyAndSaysWhy()
    {
        string data = Path.Combine(Path.GetTempPath(), "semcache-health-test-" + Guid.NewGuid().ToString("N"));
        var writability = new Writability();
        // The engine's answer is replaced by one the test controls; the rest is the real server.
        await using WebApplication app = SemCacheServer.Build(["--data-dir", data], builder =>
        {
            builder.WebHost.UseTestServer();
            builder.Services.PostConfigure<HealthCheckServiceOptions>(o =>
            {
                HealthCheckRegistration writes = o.Registrations.Single(r => r.Name == "writes");
                writes.Factory = _ => new WritesHealthCheck(writability.Get);
            });
        });
        await app.StartAsync(Ct);
        try
        {
            using GrpcChannel channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = app.GetTestServer().CreateHandler() });
            using HttpClient http = app.GetTestServer().CreateClient();
            var health = new Health.HealthClient(channel);

            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest(), cancellationToken: Ct)).Status);
            using (HttpResponseMessage ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct))
            {
                Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            }

            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest { Service = "semcache.v1.SemanticCache" }, cancellationToken: Ct)).Status);

            writability.Set(false, "the disk of /data is full");
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, (await health.CheckAsync(new HealthCheckRequest(), cancellationToken: Ct)).Status);
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, (await health.CheckAsync(new HealthCheckRequest { Service = "semcache.v1.SemanticCache" }, cancellationToken: Ct)).Status);
            using (HttpResponseMessage full = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, full.StatusCode);
                string body = await full.Content.ReadAsStringAsync(Ct);
                Assert.Contains("writes", body, StringComparison.Ordinal);
                Assert.Contains("the disk of /data is full", body, StringComparison.Ordinal);
            }

            // Liveness is not readiness: a process that cannot write now must not be restarted for it.
            using (HttpResponseMessage live = await http.GetAsync(new Uri("/healthz", UriKind.Relative), Ct))
            {
                Assert.Equal(HttpStatusCode.OK, live.StatusCode);
            }

            writability.Set(true, null);
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new HealthCheckRequest(), cancellationToken: Ct)).Status);
        }
        finally
        {
            await app.StopAsync(Ct);
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task TheWritesCheckReportsTheReason()
    {
        var check = new WritesHealthCheck(() => (false, "disk full"));
        HealthCheckResult result = await check.CheckHealthAsync(new HealthCheckContext(), Ct);
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("disk full", result.Description, StringComparison.Ordinal);
        Assert.Equal(HealthStatus.Healthy, (await new WritesHealthCheck(() => (true, null)).CheckHealthAsync(new HealthCheckContext(), Ct)).Status);
    }

    private sealed class Writability
    {
        private volatile Tuple<bool, string?> _state = Tuple.Create(true, (string?)null);

        public void Set(bool writable, string? reason) => _state = Tuple.Create(writable, reason);

        public (bool Writable, string? Reason) Get() => (_state.Item1, _state.Item2);
    }
}
