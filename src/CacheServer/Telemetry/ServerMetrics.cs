using System.Diagnostics;
using System.Diagnostics.Metrics;
using Grpc.Core;
using SemCache.Cache.Telemetry;
using SemCache.CacheServer.Configuration;
using SemCache.Embedding;

namespace SemCache.CacheServer.Telemetry;

/// <summary>
/// The server's own instruments on the <c>SemCache</c> meter: requests by method, status code and transport, their
/// latency, the embedder's counters, and <c>semcache_build_info</c>. Created with the meter provider, so build_info
/// is there from the first scrape.
/// </summary>
internal sealed class ServerMetrics
{
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _requestSeconds;

    // The embedder is resolved at the first observation, not here: the meter provider may be built (when /metrics is
    // mapped) before the server loads the model, whose failure to load it reports as one line.
    public ServerMetrics(CacheTelemetry telemetry, IServiceProvider services, Microsoft.Extensions.Options.IOptions<Cache.CacheOptions> cache)
    {
        Meter meter = telemetry.Meter;
        var model = new Lazy<TextEmbedder>(services.GetRequiredService<TextEmbedder>);
        _requests = meter.CreateCounter<long>("semcache_requests", null, "Calls served (gRPC and HTTP/JSON), by method, status code and transport.");
        _requestSeconds = meter.CreateHistogram("semcache_request_seconds", "s", "Calls' time in the server, by method and transport.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = CacheTelemetry.LatencyBuckets });
        meter.CreateObservableCounter("semcache_embedding_model_calls", () => model.Value.BatchCount, null, "ONNX Runtime calls made by the micro-batcher.");
        meter.CreateObservableCounter("semcache_embedding_texts", () => model.Value.BatchedTextCount, null, "Texts embedded through the micro-batcher.");
        meter.CreateObservableGauge("semcache_embedding_call_overhead_tokens", () => model.Value.CallOverheadTokens, null,
            "The micro-batcher's estimate of one model call's fixed cost, in padded tokens: where it splits batches by length.");

        string version = OptionCatalog.VersionText();
        int plus = version.IndexOf('+', StringComparison.Ordinal);
        string pricesAsOf = cache.Value.ModelPricesAsOf ?? "none";
        var build = new Lazy<KeyValuePair<string, object?>[]>(() =>
        [
            // Read at the first scrape: by then the model is loaded.
            new("version", plus < 0 ? version : version[..plus]),
            new("commit", plus < 0 ? "unknown" : version[(plus + 1)..]),
            new("model", model.Value.ModelName),
            new("precision", model.Value.Options.Precision.ToString()),
            new("execution_provider", model.Value.ExecutionProvider),
            new("prices_as_of", pricesAsOf),
        ]);
        meter.CreateObservableGauge("semcache_build_info", () => new Measurement<long>(1, build.Value), null, "Always 1; the labels say what is running.");
    }

    /// <summary>Counts one finished call.</summary>
    public void Request(string method, StatusCode code, string transport, long startTimestamp)
    {
        var methodTag = new KeyValuePair<string, object?>("method", method);
        var transportTag = new KeyValuePair<string, object?>("transport", transport);
        _requests.Add(1, methodTag, new KeyValuePair<string, object?>("code", CodeName(code)), transportTag);
        _requestSeconds.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, methodTag, transportTag);
    }

    // The names grpc-go and the gRPC spec use (OK, INVALID_ARGUMENT, …), not the C# enum's.
    private static string CodeName(StatusCode code) => code switch
    {
        StatusCode.OK => "OK",
        StatusCode.Cancelled => "CANCELLED",
        StatusCode.Unknown => "UNKNOWN",
        StatusCode.InvalidArgument => "INVALID_ARGUMENT",
        StatusCode.DeadlineExceeded => "DEADLINE_EXCEEDED",
        StatusCode.NotFound => "NOT_FOUND",
        StatusCode.AlreadyExists => "ALREADY_EXISTS",
        StatusCode.PermissionDenied => "PERMISSION_DENIED",
        StatusCode.Unauthenticated => "UNAUTHENTICATED",
        StatusCode.ResourceExhausted => "RESOURCE_EXHAUSTED",
        StatusCode.FailedPrecondition => "FAILED_PRECONDITION",
        StatusCode.Aborted => "ABORTED",
        StatusCode.OutOfRange => "OUT_OF_RANGE",
        StatusCode.Unimplemented => "UNIMPLEMENTED",
        StatusCode.Internal => "INTERNAL",
        StatusCode.Unavailable => "UNAVAILABLE",
        StatusCode.DataLoss => "DATA_LOSS",
        _ => "UNKNOWN",
    };
}
