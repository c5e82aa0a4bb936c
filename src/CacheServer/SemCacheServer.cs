using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using SemCache.Cache;
using SemCache.CacheServer.Configuration;
using SemCache.CacheServer.Requests;
using SemCache.CacheServer.Services;
using SemCache.CacheServer.Telemetry;
using SemCache.Embedding;
using SemCache.Index;
using SemCache.Protocol.V1;
using SemCache.Proxy;
using SemCache.Storage;

namespace SemCache.CacheServer;

/// <summary>Builds the server: configuration, validated options, the engine, and the gRPC and HTTP endpoints.</summary>
public static partial class SemCacheServer
{
    /// <summary>Command-line flags and the configuration keys they set.</summary>
    public static readonly IReadOnlyDictionary<string, string> FlagMappings = OptionCatalog.Flags;

    /// <summary>
    /// Creates the application from appsettings.json, SEMCACHE_-prefixed environment variables (e.g.
    /// <c>SEMCACHE_Server__Port</c>) and flags, in that order of precedence (flags win).
    /// </summary>
    /// <exception cref="StartupException">The command line, the configuration or the model is unusable; the message is one line naming it.</exception>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // --verbose is a switch, not a configuration key (the command-line source would take the next flag as its value).
        bool verbose = args.Contains(VerboseFlag);
        CommandLineCheck.ThrowIfInvalid(args, FlagMappings, VerboseFlag);
        args = [.. args.Where(a => a != VerboseFlag)];
        WebApplicationBuilder builder;
        try
        {
            builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        }
        catch (InvalidDataException e)
        {
            // appsettings.json (or appsettings.<environment>.json) is not valid JSON; the inner message says where.
            throw new StartupException($"{e.Message} {e.InnerException?.Message} Fix the file's JSON, or remove it to use the defaults.", e);
        }

        builder.Configuration.AddEnvironmentVariables("SEMCACHE_");
        builder.Configuration.AddCommandLine(args, new Dictionary<string, string>(FlagMappings));
        // Relative data directories are relative to where the server was started, not to its binaries.
        builder.Configuration["Storage:DataDirectory"] = Path.GetFullPath(builder.Configuration["Storage:DataDirectory"] is { Length: > 0 } dir ? dir : "data", Environment.CurrentDirectory);
        configure?.Invoke(builder);
        ConfigurationCheck.ThrowIfInvalid(builder.Configuration);

        // A failed start is reported by Program as one line; the host's own report of it (a stack trace) waits for --verbose.
        var startup = new StartupLogGate(verbose);
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", startup.Allows);

        IServiceCollection services = builder.Services;
        services.AddOptions<ServerOptions>().Bind(builder.Configuration.GetSection(ServerOptions.SectionName)).ValidateOnStart();
        services.AddOptions<EmbeddingOptions>().Bind(builder.Configuration.GetSection(EmbeddingOptions.SectionName)).ValidateOnStart();
        services.AddOptions<CacheOptions>().Bind(builder.Configuration.GetSection(CacheOptions.SectionName)).ValidateOnStart();
        services.AddOptions<EntryStoreOptions>().Bind(builder.Configuration.GetSection(StorageOptionsValidator.SectionName)).ValidateOnStart();
        services.AddOptions<VectorIndexOptions>().Bind(builder.Configuration.GetSection(IndexOptionsValidator.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ServerOptions>, ServerOptionsValidator>();
        services.AddSingleton<IValidateOptions<EmbeddingOptions>, EmbeddingOptionsValidator>();
        services.AddSingleton<IValidateOptions<CacheOptions>, CacheOptionsValidator>();
        services.AddSingleton<IValidateOptions<EntryStoreOptions>, StorageOptionsValidator>();
        services.AddSingleton<IValidateOptions<VectorIndexOptions>, IndexOptionsValidator>();
        services.AddOptions<ProxyOptions>().Bind(builder.Configuration.GetSection(ProxyOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ProxyOptions>, ProxyOptionsValidator>();
        services.AddSemCacheTelemetry(builder.Configuration);
        services.AddSingleton(sp => TextEmbedder.Create(sp.GetRequiredService<IOptions<EmbeddingOptions>>().Value, sp.GetRequiredService<ILoggerFactory>(), sp.GetRequiredService<Cache.Telemetry.CacheTelemetry>().Meter));
        services.AddSingleton<CacheEngineHost>();
        services.AddHostedService(sp => sp.GetRequiredService<CacheEngineHost>());

        ServerOptions server = builder.Configuration.GetSection(ServerOptions.SectionName).Get<ServerOptions>() ?? new ServerOptions();
        ProxyOptions proxy = builder.Configuration.GetSection(ProxyOptions.SectionName).Get<ProxyOptions>() ?? new ProxyOptions();
        EntryStoreOptions storeLimits = builder.Configuration.GetSection(StorageOptionsValidator.SectionName).Get<EntryStoreOptions>() ?? new EntryStoreOptions();
        // The OpenAI- and Anthropic-compatible caching proxy: one more front door to the same engine, on the HTTP port.
        services.AddSemCacheProxy(proxy, storeLimits.MaxTtl, sp => sp.GetRequiredService<CacheEngineHost>().Engine);
        services.AddGrpc(o =>
            {
                o.EnableDetailedErrors = false;
                o.Interceptors.Add<RequestMetricsInterceptor>();
                o.Interceptors.Add<JsonFieldNamesInterceptor>();
                // RequestGate refuses a larger message first, naming the limit; this stays as the check of decompressed sizes.
                o.MaxReceiveMessageSize = server.MaxRequestBytes;
            })
            // The type registry lets HTTP/JSON errors carry the same google.rpc.BadRequest details as gRPC ones.
            .AddJsonTranscoding(o => o.TypeRegistry = Google.Protobuf.Reflection.TypeRegistry.FromMessages(Google.Rpc.BadRequest.Descriptor));
        services.AddGrpcReflection();
        // Readiness: the engine is open (recovery done, model loaded), not shutting down, and can take writes.
        // grpc.health.v1 answers it for the whole server ("") and for the cache service by name; /readyz serves it
        // over HTTP. /healthz is liveness only (the process answers): a full disk must not get the pod restarted.
        services.AddGrpcHealthChecks(o => o.Services.Map(SemanticCache.Descriptor.FullName, _ => true))
            .AddCheck<CacheEngineHost>("cache", tags: [ReadyTag])
            .Add(new HealthCheckRegistration(WritesHealthCheck.Name, sp => new WritesHealthCheck(sp.GetRequiredService<CacheEngineHost>().Writability), failureStatus: null, tags: [ReadyTag]));
        builder.Host.ConfigureHostOptions(o => o.ShutdownTimeout = ShutdownDrain);
        // Under systemd (Type=notify, deploy/systemd): READY=1 once recovery is done and the ports are open, STOPPING=1
        // at shutdown; journal-friendly logs. Nothing changes elsewhere.
        builder.Host.UseSystemd();

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // A backstop for bodies RequestGate does not read; grpc-dotnet lifts it for gRPC calls, which have their own.
            kestrel.Limits.MaxRequestBodySize = server.MaxRequestBytes;
            System.Net.IPAddress address = server.Host == "localhost" ? System.Net.IPAddress.Loopback : System.Net.IPAddress.Parse(server.Host);
            kestrel.Listen(address, server.Port, listen => listen.Protocols = HttpProtocols.Http2);
            if (server.HttpPort != 0)
            {
                kestrel.Listen(address, server.HttpPort, listen => listen.Protocols = HttpProtocols.Http1);
            }
        });

        WebApplication app = builder.Build();
        app.UseMiddleware<RequestGate>();
        app.MapGrpcService<SemanticCacheService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = HealthReportWriter.WriteAsync });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = r => r.Tags.Contains(ReadyTag), ResponseWriter = HealthReportWriter.WriteAsync });
        app.MapPrometheusScrapingEndpoint("/metrics");
        if (proxy.Enabled)
        {
            app.MapSemCacheProxy();
        }

        // Load the model before listening, so a bad model path or a missing CUDA fails start-up, not the first call.
        TextEmbedder embedder;
        try
        {
            embedder = app.Services.GetRequiredService<TextEmbedder>();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException or NotSupportedException
            || e.GetType().FullName == "Microsoft.ML.OnnxRuntime.OnnxRuntimeException")
        {
            throw new StartupException($"the embedding model could not be loaded (Embedding:ModelPath, Embedding:VocabPath, Embedding:ExecutionProvider): {e.Message}", e);
        }

        CacheEngineHost host = app.Services.GetRequiredService<CacheEngineHost>();
        string grpcEndpoint = $"grpc://{server.Host}:{server.Port}";
        string httpEndpoint = server.HttpPort == 0 ? "off" : $"http://{server.Host}:{server.HttpPort}";
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            startup.Started();
            EntryStoreOptions store = app.Services.GetRequiredService<IOptions<EntryStoreOptions>>().Value;
            long entries = host.Engine.GetStatistics().Entries;
            string indexSource = host.Engine.Recovery.IndexSource;
            Log.Started(app.Logger, embedder.ModelName, embedder.Dimension, embedder.ExecutionProvider, entries, indexSource, store.DataDirectory, store.Durability, grpcEndpoint, httpEndpoint);
        });
        return app;
    }

    /// <summary>
    /// How long a shutdown waits for calls in flight before the final checkpoint; the grace periods in deploy/ (Docker,
    /// Kubernetes, systemd) give that plus the checkpoint.
    /// </summary>
    public static readonly TimeSpan ShutdownDrain = TimeSpan.FromSeconds(30);

    /// <summary>The tag of the health checks that make up readiness (/readyz and grpc.health.v1).</summary>
    public const string ReadyTag = "ready";

    /// <summary>Prints the stack trace of a start-up failure (and the host's own report of it) after its one line.</summary>
    public const string VerboseFlag = "--verbose";

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information,
            Message = "SemCache serving: model {Model} ({Dimension} dimensions, {Provider}); {Entries} entries recovered (index: {IndexSource}) from {DataDirectory}, durability {Durability}; gRPC {GrpcEndpoint}, HTTP {HttpEndpoint}")]
        public static partial void Started(ILogger logger, string model, int dimension, string provider, long entries, string indexSource, string dataDirectory, DurabilityMode durability, string grpcEndpoint, string httpEndpoint);
    }
}
