using System.Globalization;
using System.Text;
using SemCache.Cache;
using SemCache.Embedding;

namespace SemCache.CacheServer;

/// <summary>GET /metrics in the Prometheus text exposition format: counters, gauges and per-stage latency histograms.</summary>
internal static class MetricsEndpoint
{
    public static IResult Render(CacheEngineHost host, TextEmbedder embedder)
    {
        SemanticCacheEngine engine = host.Engine;
        CacheStatistics stats = engine.GetStatistics();
        var text = new StringBuilder(4096);
        Gauge(text, "semcache_entries", "Entries stored now.", stats.Entries);
        text.Append("# HELP semcache_gets_total Gets served, by outcome.\n# TYPE semcache_gets_total counter\n");
        Line(text, "semcache_gets_total{result=\"exact\"}", stats.ExactHits);
        Line(text, "semcache_gets_total{result=\"semantic\"}", stats.SemanticHits);
        Line(text, "semcache_gets_total{result=\"miss\"}", stats.Misses);
        Counter(text, "semcache_sets_total", "Entries stored.", stats.Sets);
        Counter(text, "semcache_evictions_total", "Entries evicted to stay within capacity.", stats.Evictions);
        Counter(text, "semcache_expirations_total", "Entries removed when their TTL ran out.", stats.Expirations);
        Counter(text, "semcache_tokens_saved_total", "Model tokens that hits made unnecessary.", stats.TokensSaved);
        Counter(text, "semcache_cost_saved_usd_total", "What those tokens would have cost, by Cache:ModelPrices.", stats.CostSavedUsd);
        Counter(text, "semcache_embedding_model_calls_total", "ONNX Runtime calls made by the micro-batcher.", embedder.BatchCount);
        Counter(text, "semcache_embedding_texts_total", "Texts embedded through the micro-batcher.", embedder.BatchedTextCount);
        Gauge(text, "semcache_embedding_call_overhead_tokens", "The micro-batcher's estimate of one model call's fixed cost, in padded tokens: where it splits batches by length.", embedder.CallOverheadTokens);
        Gauge(text, "semcache_managed_heap_bytes", "Bytes in the managed heap.", GC.GetTotalMemory(forceFullCollection: false));
        Gauge(text, "semcache_working_set_bytes", "Resident memory of the process.", Environment.WorkingSet);

        text.Append("# HELP semcache_stage_seconds Time spent in each stage of a request, inside the server.\n# TYPE semcache_stage_seconds histogram\n");
        EngineTimings timings = engine.Timings;
        Histogram(text, "get", timings.Get);
        Histogram(text, "exact_lookup", timings.ExactLookup);
        Histogram(text, "embed", timings.Embed);
        Histogram(text, "embed_queue", timings.EmbedQueue);
        Histogram(text, "model", timings.Model);
        Histogram(text, "search", timings.Search);
        Histogram(text, "fetch", timings.Fetch);
        Histogram(text, "set", timings.Set);
        return Results.Text(text.ToString(), "text/plain; version=0.0.4; charset=utf-8");
    }

    private static void Gauge(StringBuilder text, string name, string help, double value)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(" gauge\n");
        Line(text, name, value);
    }

    private static void Counter(StringBuilder text, string name, string help, double value)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(" counter\n");
        Line(text, name, value);
    }

    private static void Line(StringBuilder text, string series, double value) =>
        text.Append(series).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');

    private static void Histogram(StringBuilder text, string stage, LatencyHistogram histogram)
    {
        foreach ((double upperMicros, long cumulative) in histogram.Cumulative())
        {
            Line(text, $"semcache_stage_seconds_bucket{{stage=\"{stage}\",le=\"{(upperMicros / 1e6).ToString("R", CultureInfo.InvariantCulture)}\"}}", cumulative);
        }

        Line(text, $"semcache_stage_seconds_bucket{{stage=\"{stage}\",le=\"+Inf\"}}", histogram.Count);
        Line(text, $"semcache_stage_seconds_sum{{stage=\"{stage}\"}}", histogram.SumSeconds);
        Line(text, $"semcache_stage_seconds_count{{stage=\"{stage}\"}}", histogram.Count);
    }
}
