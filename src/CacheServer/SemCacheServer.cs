using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using SemCache.CacheServer.Services;
using SemCache.Embedding;

namespace SemCache.CacheServer;

/// <summary>Builds the server: configuration, validated options, the engine, and the gRPC endpoints.</summary>
public static partial class SemCacheServer
{
    /// <summary>Command-line flags and the configuration keys they set.</summary>
    public static readonly IReadOnlyDictionary<string, string> FlagMappings = new Dictionary<string, string>
    {
        ["--host"] = "Server:Host",
        ["--port"] = "Server:Port",
        ["--http-port"] = "Server:HttpPort",
        ["--model"] = "Embedding:ModelPath",
        ["--vocab"] = "Embedding:VocabPath",
        ["--execution-provider"] = "Embedding:ExecutionProvider",
    };

    /// <summary>
    /// Creates the application from appsettings.json, SEMCACHE_-prefixed environment variables (e.g.
    /// <c>SEMCACHE_Server__Port</c>) and flags, in that order of precedence (flags win).
    /// </summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddEnvironmentVariables("SEMCACHE_");
        builder.Configuration.AddCommandLine(args, new Dictionary<string, string>(FlagMappings));

        builder.Services.AddOptions<ServerOptions>().Bind(builder.Configuration.GetSection(ServerOptions.SectionName))
            .Validate(Validated<ServerOptions>(o => o.Validate())).ValidateOnStart();
        builder.Services.AddOptions<EmbeddingOptions>().Bind(builder.Configuration.GetSection(EmbeddingOptions.SectionName))
            .Validate(Validated<EmbeddingOptions>(o => o.Validate())).ValidateOnStart();
        builder.Services.AddSingleton(sp => TextEmbedder.Create(sp.GetRequiredService<IOptions<EmbeddingOptions>>().Value, sp.GetRequiredService<ILoggerFactory>()));

        builder.Services.AddGrpc(o => o.EnableDetailedErrors = false);
        builder.Services.AddGrpcReflection();
        builder.Services.AddGrpcHealthChecks().AddCheck("embedding", () => Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy());

        ServerOptions server = builder.Configuration.GetSection(ServerOptions.SectionName).Get<ServerOptions>() ?? new ServerOptions();
        server.Validate();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            System.Net.IPAddress address = server.Host == "localhost" ? System.Net.IPAddress.Loopback : System.Net.IPAddress.Parse(server.Host);
            kestrel.Listen(address, server.Port, listen => listen.Protocols = HttpProtocols.Http2);
            if (server.HttpPort != 0)
            {
                kestrel.Listen(address, server.HttpPort, listen => listen.Protocols = HttpProtocols.Http1);
            }
        });

        configure?.Invoke(builder);
        WebApplication app = builder.Build();
        app.MapGrpcService<SemanticCacheService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapGet("/healthz", () => Results.Text("ok"));

        // Load the model before listening, so a bad model path or a missing CUDA fails start-up, not the first call.
        TextEmbedder embedder = app.Services.GetRequiredService<TextEmbedder>();
        string grpcEndpoint = $"grpc://{server.Host}:{server.Port}";
        string httpEndpoint = server.HttpPort == 0 ? "off" : $"http://{server.Host}:{server.HttpPort}";
        app.Lifetime.ApplicationStarted.Register(() =>
            Log.Started(app.Logger, embedder.ModelName, embedder.Dimension, embedder.ExecutionProvider, grpcEndpoint, httpEndpoint));
        return app;
    }

    private static Func<T, bool> Validated<T>(Action<T> validate) => options =>
    {
        validate(options);
        return true;
    };

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "SemCache serving: model {Model} ({Dimension} dimensions, {Provider}), gRPC {GrpcEndpoint}, HTTP {HttpEndpoint}")]
        public static partial void Started(ILogger logger, string model, int dimension, string provider, string grpcEndpoint, string httpEndpoint);
    }
}
