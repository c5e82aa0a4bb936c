using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using SemCache.Cache;
using SemCache.Cache.Telemetry;
using SemCache.CacheServer.Configuration;
using SemCache.Embedding;
using SemCache.Index;
using SemCache.Storage;

namespace SemCache.CacheServer;

/// <summary>
/// Owns the engine's lifetime: opens it (recovering the data directory) before the server accepts calls, and on
/// shutdown — after Kestrel has drained in-flight calls — closes it with a final checkpoint of store and index.
/// </summary>
internal sealed partial class CacheEngineHost(
    TextEmbedder embedder,
    IOptions<CacheOptions> cacheOptions,
    IOptions<EntryStoreOptions> storeOptions,
    IOptions<VectorIndexOptions> indexOptions,
    IHostApplicationLifetime lifetime,
    CacheTelemetry telemetry,
    ILoggerFactory loggerFactory) : IHostedService, IHealthCheck, IAsyncDisposable
{
    private SemanticCacheEngine? _engine;

    /// <summary>The engine; available once the host has started.</summary>
    public SemanticCacheEngine Engine => _engine ?? throw new InvalidOperationException("The cache is still starting.");

    /// <summary>The engine while it is open; null before the host has started and after it has stopped.</summary>
    public SemanticCacheEngine? OpenEngine => _engine;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        EntryStoreOptions store = storeOptions.Value;
        string directory = store.DataDirectory = Path.GetFullPath(store.DataDirectory);
        string option = $"Storage:DataDirectory {directory}";
        if (File.Exists(directory))
        {
            throw new StartupException($"{option} is a file, not a directory: point --data-dir (Storage:DataDirectory) at a directory (it is created if missing)");
        }

        // What the store and the engine throw for a data directory that cannot be opened, as one line naming it and the fix.
        try
        {
            _engine = await SemanticCacheEngine.OpenAsync(cacheOptions.Value, store, indexOptions.Value, embedder, loggerFactory, telemetry: telemetry, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (EntryStoreCorruptedException e)
        {
            throw new StartupException($"{option} is damaged: {e.Message}", e);
        }
        catch (EntryStoreVersionException e)
        {
            throw new StartupException($"{option} is in another format: {e.Message}", e);
        }
        catch (InvalidDataException e)
        {
            throw new StartupException($"{option} holds a damaged file: {e.Message}. Restore a backup, or move the directory aside and start empty", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StartupException($"{option} cannot be accessed: {e.Message} Give the server's user read and write access to it, or point --data-dir elsewhere", e);
        }
        catch (IOException e)
        {
            throw new StartupException($"{option} cannot be used: {e.Message}", e);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => DisposeAsync().AsTask();

    // Also reached when the host fails to start (a port in use) and StopAsync never runs: the store still closes cleanly.
    public async ValueTask DisposeAsync()
    {
        SemanticCacheEngine? engine = Interlocked.Exchange(ref _engine, null);
        if (engine is not null)
        {
            await engine.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Whether the engine can take writes now, and why not; read by <see cref="WritesHealthCheck"/>.</summary>
    // TODO(engine): once SemanticCacheEngine.Health (CacheHealth: Writable, Reason) exists, the engine line becomes
    // `CacheHealth health = engine.Health; return (health.Writable, health.Reason);`.
    public (bool Writable, string? Reason) Writability() => _engine is null ? (false, "the cache is starting") : (_engine.Health.Writable, _engine.Health.Reason);

    // Not ready once shutdown has begun, so that balancers stop sending calls while the in-flight ones finish.
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(lifetime.ApplicationStopping.IsCancellationRequested ? HealthCheckResult.Unhealthy("shutting down")
            : _engine is null ? HealthCheckResult.Unhealthy("starting")
            : HealthCheckResult.Healthy());
}
