using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using SemCache.Cache.Telemetry;
using SemCache.CacheServer.Configuration;

namespace SemCache.CacheServer.Telemetry;

/// <summary>
/// Metrics and traces through OpenTelemetry: the <c>SemCache</c> meter (engine, embedder, store commits, requests),
/// .NET runtime and process metrics, scraped at <c>/metrics</c> (Prometheus text) and pushed over OTLP when an endpoint
/// is configured. Spans of the <c>SemCache</c> activity source are recorded only when OTLP is configured: without a
/// listener the engine creates none.
/// </summary>
internal static class TelemetryRegistration
{
    /// <summary>The standard OpenTelemetry variable naming the OTLP endpoint.</summary>
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static IServiceCollection AddSemCacheTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ObservabilityOptions>().Bind(configuration.GetSection(ObservabilityOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ObservabilityOptions>, ObservabilityOptionsValidator>();
        // The meter comes from the host's factory, so each host (tests run several in one process) has its own.
        services.AddSingleton(sp => new CacheTelemetry(
            sp.GetRequiredService<IMeterFactory>().Create(CacheTelemetry.Name),
            sp.GetRequiredService<IOptions<ObservabilityOptions>>().Value.MaxNamespaceLabels));
        services.AddSingleton<ServerMetrics>();
        services.AddSingleton<RequestMetricsInterceptor>();

        ObservabilityOptions observability = configuration.GetSection(ObservabilityOptions.SectionName).Get<ObservabilityOptions>() ?? new ObservabilityOptions();
        // Observability:OtlpEndpoint is the collector's base address; without it the exporter reads the standard
        // OTEL_EXPORTER_OTLP_* variables itself (endpoint, protocol, headers), appending each signal's path for
        // http/protobuf as the specification says.
        string? configured = observability.OtlpEndpoint is { Length: > 0 } option ? option : null;
        string? endpoint = configured
            ?? (configuration[OtlpEndpointVariable] is { Length: > 0 } standard ? standard
            : Environment.GetEnvironmentVariable(OtlpEndpointVariable) is { Length: > 0 } variable ? variable
            : null);

        OpenTelemetryBuilder telemetry = services.AddOpenTelemetry();
        if (configuration["OTEL_SERVICE_NAME"] is null && Environment.GetEnvironmentVariable("OTEL_SERVICE_NAME") is null)
        {
            telemetry.ConfigureResource(r => r.AddService("semcache", serviceVersion: OptionCatalog.VersionText()));
        }

        telemetry.WithMetrics(metrics =>
        {
            metrics.AddMeter(CacheTelemetry.Name)
                .AddRuntimeInstrumentation()
                .AddProcessInstrumentation()
                .AddInstrumentation(sp => sp.GetRequiredService<ServerMetrics>())
                .AddPrometheusExporter(o =>
                {
                    // Every scrape sees the counters as they are now (no cached response), without scope labels on each series.
                    o.ScrapeResponseCacheDurationMilliseconds = 0;
                    o.ScopeInfoEnabled = false;
                });
            // Only this host's SemCache meter: another host in the same process has a meter of the same name.
            ((IDeferredMeterProviderBuilder)metrics).Configure((sp, builder) =>
            {
                Meter own = sp.GetRequiredService<CacheTelemetry>().Meter;
                builder.AddView(instrument => instrument.Meter.Name == CacheTelemetry.Name && !ReferenceEquals(instrument.Meter, own) ? MetricStreamConfiguration.Drop : null);
            });
            if (endpoint is not null)
            {
                metrics.AddOtlpExporter(o => SetEndpoint(o, configured, "v1/metrics"));
            }
        });

        if (endpoint is not null)
        {
            telemetry.WithTracing(tracing => tracing
                .AddSource(CacheTelemetry.Name)
                .AddAspNetCoreInstrumentation()
                .AddOtlpExporter(o => SetEndpoint(o, configured, "v1/traces")));
        }

        return services;
    }

    // An endpoint set in code is used as is, so for http/protobuf the signal's path is added here, as the exporter
    // does for the standard variable.
    private static void SetEndpoint(OpenTelemetry.Exporter.OtlpExporterOptions options, string? configured, string signalPath)
    {
        if (configured is null)
        {
            return;
        }

        options.Endpoint = options.Protocol == OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf
            ? new Uri(configured.TrimEnd('/') + "/" + signalPath)
            : new Uri(configured);
    }
}
