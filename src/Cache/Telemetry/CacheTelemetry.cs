using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SemCache.Cache.Telemetry;

/// <summary>
/// The engine's metrics (a <see cref="Meter"/> named <see cref="Name"/>) and traces (<see cref="Source"/>), through
/// System.Diagnostics only: whoever hosts the engine chooses the exporter (the server uses OpenTelemetry). Nothing is
/// measured while nobody listens. Label values are bounded: namespaces and unpriced model names keep their own label
/// for the first <see cref="MaxNamespaceLabels"/> of each seen since start, later ones are <see cref="Other"/>.
/// </summary>
public sealed class CacheTelemetry : IDisposable
{
    /// <summary>The name of the meter and of the activity source.</summary>
    public const string Name = "SemCache";

    /// <summary>The label value of namespaces and models past the label bound.</summary>
    public const string Other = "other";

    /// <summary>The default of <see cref="MaxNamespaceLabels"/>.</summary>
    public const int DefaultMaxNamespaceLabels = 100;

    /// <summary>
    /// Bucket upper bounds of every latency histogram, in seconds (stages, commits, requests): 10 µs to 10 s, about
    /// ×2.5 apart. Always all exported, so the <c>le</c> set of a series never changes.
    /// </summary>
    public static readonly IReadOnlyList<double> LatencyBuckets =
        [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>Bucket upper bounds of the best-candidate similarity histogram: finest where thresholds are set.</summary>
    public static readonly IReadOnlyList<double> SimilarityBuckets =
        [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.875, 0.9, 0.925, 0.95, 0.975, 0.99, 1];

    /// <summary>The engine's spans: <c>semcache.get</c> with its stages as children, and <c>semcache.set</c>.</summary>
    public static readonly ActivitySource Source = new(Name, typeof(CacheTelemetry).Assembly.GetName().Version?.ToString());

    private static readonly KeyValuePair<string, object?>[] StageTags =
    [
        new("stage", "get"), new("stage", "exact_lookup"), new("stage", "embed"), new("stage", "embed_queue"),
        new("stage", "model"), new("stage", "search"), new("stage", "fetch"), new("stage", "set"),
    ];

    private readonly bool _ownsMeter;
    private readonly Counter<long> _gets;
    private readonly Counter<long> _sets;
    private readonly Counter<long> _tokensSaved;
    private readonly Counter<double> _costSaved;
    private readonly Counter<long> _unpricedTokens;
    private readonly Histogram<double> _similarity;
    private readonly Histogram<double> _stages;
    private readonly Histogram<double> _commits;
    private readonly LabelBound _namespaces;
    private readonly LabelBound _models;
    private Func<CacheStatistics>? _statistics;
    private Func<long>? _bytes;

    /// <summary>Creates the instruments on <paramref name="meter"/> (one named <see cref="Name"/>; a new one when null, owned and disposed here).</summary>
    /// <param name="meter">The meter, e.g. from the host's <c>IMeterFactory</c>; null for one of this instance's own.</param>
    /// <param name="maxNamespaceLabels">How many namespaces (and unpriced models) keep their own label value.</param>
    public CacheTelemetry(Meter? meter = null, int maxNamespaceLabels = DefaultMaxNamespaceLabels)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxNamespaceLabels);
        _ownsMeter = meter is null;
        Meter = meter ?? new Meter(Name);
        MaxNamespaceLabels = maxNamespaceLabels;
        _namespaces = new LabelBound(maxNamespaceLabels);
        _models = new LabelBound(maxNamespaceLabels);
        _gets = Meter.CreateCounter<long>("semcache_gets", null, "Gets served, by result (exact, semantic, miss) and namespace.");
        _sets = Meter.CreateCounter<long>("semcache_sets", null, "Entries stored (each SetMany entry counts), by namespace.");
        _tokensSaved = Meter.CreateCounter<long>("semcache_tokens_saved", null, "Input plus output tokens of the model calls hits made unnecessary, by model and namespace.");
        _costSaved = Meter.CreateCounter<double>("semcache_cost_saved_usd", null, "What those tokens would have cost in US dollars (Cache:ModelPrices), by model and namespace.");
        _unpricedTokens = Meter.CreateCounter<long>("semcache_unpriced_tokens", null, "Tokens saved whose model has no price in Cache:ModelPrices (not in cost_saved), by model and namespace.");
        _similarity = Meter.CreateHistogram("semcache_best_similarity", null, "Similarity of the best candidate of each searched Get, by result: how close the misses came.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SimilarityBuckets });
        _stages = Meter.CreateHistogram("semcache_stage_seconds", "s", "Time spent in each stage of a request inside the engine.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _commits = Meter.CreateHistogram("semcache_commit_seconds", "s", "Write-ahead-log commits, from issue to durable (Strict and Periodic durability).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        Meter.CreateObservableGauge("semcache_entries", () => Read(s => s.Entries), null, "Entries stored now.");
        Meter.CreateObservableGauge("semcache_stored_bytes", ReadBytes, null, "Serialized bytes of the stored entries (what Storage:MaxBytes limits).");
        Meter.CreateObservableCounter("semcache_evictions", () => Read(s => s.Evictions), null, "Entries evicted to stay within capacity.");
        Meter.CreateObservableCounter("semcache_expirations", () => Read(s => s.Expirations), null, "Entries removed when their TTL ran out.");
    }

    /// <summary>The meter the instruments are on.</summary>
    public Meter Meter { get; }

    /// <summary>How many namespaces (and unpriced models) keep their own label value; later ones are <see cref="Other"/>.</summary>
    public int MaxNamespaceLabels { get; }

    /// <summary>Whether anyone listens to the counters (false: recording is skipped).</summary>
    internal bool Counting => _gets.Enabled;

    /// <summary>Gives the observable instruments the engine's statistics to read (null: nothing to observe).</summary>
    internal void Observe(Func<CacheStatistics>? statistics, Func<long>? bytes)
    {
        Volatile.Write(ref _statistics, statistics);
        Volatile.Write(ref _bytes, bytes);
    }

    /// <summary>The namespace's label: its name if it is one of the first tracked ones, else <see cref="Other"/>.</summary>
    internal string NamespaceLabel(string ns, bool tracked) => _namespaces.Label(ns, claim: tracked);

    internal void Stage(CacheStage stage, long startTimestamp) => Stage(stage, Stopwatch.GetElapsedTime(startTimestamp));

    internal void Stage(CacheStage stage, TimeSpan elapsed)
    {
        if (_stages.Enabled)
        {
            _stages.Record(elapsed.TotalSeconds, StageTags[(int)stage]);
        }
    }

    internal void Commit(TimeSpan elapsed) => _commits.Record(elapsed.TotalSeconds);

    internal void Get(string nsLabel, string result, float? bestSimilarity, bool searched)
    {
        _gets.Add(1, new KeyValuePair<string, object?>("result", result), new KeyValuePair<string, object?>("namespace", nsLabel));
        if (searched && bestSimilarity is float best)
        {
            _similarity.Record(best, new KeyValuePair<string, object?>("result", result));
        }
    }

    internal void Saved(string nsLabel, string model, bool priced, long tokens, double usd)
    {
        var modelTag = new KeyValuePair<string, object?>("model", priced ? model : _models.Label(model, claim: true));
        var nsTag = new KeyValuePair<string, object?>("namespace", nsLabel);
        _tokensSaved.Add(tokens, modelTag, nsTag);
        if (priced)
        {
            _costSaved.Add(usd, modelTag, nsTag);
        }
        else
        {
            _unpricedTokens.Add(tokens, modelTag, nsTag);
        }
    }

    internal void Set(string nsLabel) => _sets.Add(1, new KeyValuePair<string, object?>("namespace", nsLabel));

    /// <summary>Disposes the meter if this instance created it.</summary>
    public void Dispose()
    {
        if (_ownsMeter)
        {
            Meter.Dispose();
        }
    }

    private IEnumerable<Measurement<long>> Read(Func<CacheStatistics, long> value) =>
        Volatile.Read(ref _statistics) is { } statistics ? [new Measurement<long>(value(statistics()))] : [];

    private IEnumerable<Measurement<long>> ReadBytes() =>
        Volatile.Read(ref _bytes) is { } bytes ? [new Measurement<long>(bytes())] : [];

    // First come, first labelled: a label once given never changes, so a series never splits or moves to "other".
    private sealed class LabelBound(int max)
    {
        private readonly ConcurrentDictionary<string, string> _labels = new(StringComparer.Ordinal);
        private int _count;

        public string Label(string value, bool claim)
        {
            if (_labels.TryGetValue(value, out string? label))
            {
                return label;
            }

            if (!claim || Volatile.Read(ref _count) >= max)
            {
                return Other;
            }

            lock (_labels)
            {
                if (_labels.TryGetValue(value, out label))
                {
                    return label;
                }

                if (_count >= max)
                {
                    return Other;
                }

                _labels[value] = value;
                Volatile.Write(ref _count, _count + 1);
                return value;
            }
        }
    }
}

/// <summary>The stages of <c>semcache_stage_seconds</c>.</summary>
internal enum CacheStage
{
    Get,
    ExactLookup,
    Embed,
    EmbedQueue,
    Model,
    Search,
    Fetch,
    Set,
}
