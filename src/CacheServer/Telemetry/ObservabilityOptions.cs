using Microsoft.Extensions.Options;
using SemCache.Cache.Telemetry;
using SemCache.CacheServer.Configuration;

namespace SemCache.CacheServer.Telemetry;

/// <summary>Metrics and traces: label bounds and where they are exported. Every default is stated on its property.</summary>
public sealed class ObservabilityOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Observability";

    /// <summary>
    /// How many namespaces keep their own <c>namespace</c> label (the first ones written since start); later ones are
    /// counted as <c>other</c>, so a tenant per request cannot grow the number of series without bound. The same bound
    /// applies to the <c>model</c> label of models without a price. Default: 100. Range 0 to 10,000.
    /// </summary>
    public int MaxNamespaceLabels { get; set; } = CacheTelemetry.DefaultMaxNamespaceLabels;

    /// <summary>
    /// OTLP endpoint (e.g. <c>http://collector:4317</c>) to push metrics and traces to. Default: none — then the
    /// standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> variable decides, and without it nothing is pushed and no span is
    /// recorded (<c>/metrics</c> is served either way).
    /// </summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Checks every option; throws naming the option and its allowed range.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public void Validate()
    {
        if (MaxNamespaceLabels is < 0 or > 10_000)
        {
            throw new ArgumentException($"{SectionName}:{nameof(MaxNamespaceLabels)} must be between 0 and 10000, got {MaxNamespaceLabels}");
        }

        if (OtlpEndpoint is { Length: > 0 } endpoint && !Uri.TryCreate(endpoint, UriKind.Absolute, out _))
        {
            throw new ArgumentException($"{SectionName}:{nameof(OtlpEndpoint)} must be an absolute URI such as http://collector:4317, got {endpoint}");
        }
    }
}

/// <summary>Validates <see cref="ObservabilityOptions"/> (section <c>Observability</c>).</summary>
internal sealed class ObservabilityOptionsValidator : IValidateOptions<ObservabilityOptions>
{
    public ValidateOptionsResult Validate(string? name, ObservabilityOptions options)
    {
        var failures = new OptionFailures(ObservabilityOptions.SectionName);
        failures.Range(nameof(options.MaxNamespaceLabels), options.MaxNamespaceLabels, 0, 10_000);
        if (options.OtlpEndpoint is { Length: > 0 } endpoint
            && (!Uri.TryCreate(endpoint, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https")))
        {
            failures.Add(nameof(options.OtlpEndpoint), "must be an http:// or https:// URI such as http://collector:4317", endpoint);
        }

        return failures.Result(options.Validate);
    }
}
