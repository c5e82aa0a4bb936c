using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SemCache.CacheServer;

/// <summary>
/// Readiness for writes: unhealthy (HTTP 503 on /readyz, NOT_SERVING on grpc.health.v1) while the cache cannot take
/// Sets, e.g. when the store's disk is full, with the reason as the description. Reads may still be served then, but
/// a balancer should send this instance no traffic until it can take the Set that follows every miss.
/// </summary>
public sealed class WritesHealthCheck(Func<(bool Writable, string? Reason)> writability) : IHealthCheck
{
    /// <summary>The check's name in /readyz and in the gRPC health service.</summary>
    public const string Name = "writes";

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        (bool writable, string? reason) = writability();
        return Task.FromResult(writable
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy($"not ready for writes: {reason ?? "the cache cannot take writes now"}"));
    }
}
