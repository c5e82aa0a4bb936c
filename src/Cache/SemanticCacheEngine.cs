using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SemCache.Embedding;
using SemCache.Index;
using SemCache.Storage;

namespace SemCache.Cache;

/// <summary>
/// The semantic cache: an exact layer (normalised prompt in its partition, no model run) and a semantic layer (the
/// prompt's embedding searched among its partition's vectors), over an entry store that keeps responses, TTLs and
/// capacity and survives restarts. An entry is only ever returned to a request of the same partition: same
/// namespace, the same attribute map and the same conversation context. Thread-safe.
/// </summary>
public sealed partial class SemanticCacheEngine : IEntryStoreObserver, IAsyncDisposable
{
    private const int SearchSlack = 4;
    private const string ManifestName = "manifest.json";

    private readonly CacheOptions _options;
    private readonly EntryStoreOptions _storeOptions;
    private readonly VectorIndexOptions _indexTemplate;
    private readonly TextEmbedder _embedder;
    private readonly RequestValidator _validate;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<int, PartitionedIndex> _indexes = new();
    private readonly ConcurrentDictionary<string, Counters> _namespaceCounters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<ulong, Counters> _countersByNamespaceHash = new();
    private readonly Counters _total = new();
    private readonly NamespaceDimensions _dimensions;
    private readonly string? _indexDirectory;
    private readonly SemaphoreSlim _snapshotGate = new(1, 1);
    private readonly RecentEmbeddings _recentEmbeddings = new(4096);
    private EntryStore _store = null!;
    private long _evictions;
    private long _expirations;
    private int _disposed;

    private SemanticCacheEngine(CacheOptions options, EntryStoreOptions storeOptions, VectorIndexOptions indexTemplate, TextEmbedder embedder, ILogger logger)
    {
        _options = options;
        _storeOptions = storeOptions;
        _indexTemplate = indexTemplate;
        _embedder = embedder;
        _validate = new RequestValidator(options);
        _logger = logger;
        bool persistent = storeOptions.Durability != DurabilityMode.None && !string.IsNullOrEmpty(storeOptions.DataDirectory);
        if (persistent)
        {
            _indexDirectory = Path.Combine(storeOptions.DataDirectory, "index");
            Directory.CreateDirectory(_indexDirectory);
        }

        _dimensions = new NamespaceDimensions(persistent ? Path.Combine(storeOptions.DataDirectory, "namespaces.json") : null);
    }

    /// <summary>The embedder the engine runs prompts through.</summary>
    public TextEmbedder Embedder => _embedder;

    /// <summary>Latency of each stage of the requests served so far.</summary>
    public EngineTimings Timings { get; } = new();

    /// <summary>What recovery found when the engine opened.</summary>
    public EngineRecovery Recovery { get; private set; } = null!;

    /// <summary>
    /// Opens the store in its data directory (recovering what it holds) and restores the vector index: from its snapshot
    /// when the snapshot matches the store's checkpoint (plus the changes replayed after it), otherwise rebuilt from the
    /// stored vectors. Never re-embeds.
    /// </summary>
    public static async Task<SemanticCacheEngine> OpenAsync(
        CacheOptions options,
        EntryStoreOptions storeOptions,
        VectorIndexOptions? indexOptions,
        TextEmbedder embedder,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(storeOptions);
        ArgumentNullException.ThrowIfNull(embedder);
        options.Validate();
        loggerFactory ??= NullLoggerFactory.Instance;
        VectorIndexOptions template = (indexOptions ?? new VectorIndexOptions { Dimension = embedder.Dimension }) with { Dimension = embedder.Dimension };
        template.Validate();
        var engine = new SemanticCacheEngine(options, storeOptions, template, embedder, loggerFactory.CreateLogger<SemanticCacheEngine>());
        long started = Stopwatch.GetTimestamp();
        engine._store = await EntryStore.OpenAsync(storeOptions, engine, loggerFactory.CreateLogger<EntryStore>(), timeProvider, cancellationToken).ConfigureAwait(false);
        try
        {
            engine.Recovery = engine.RestoreIndex();
        }
        catch
        {
            await engine._store.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        double elapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        Log.Recovered(engine._logger, engine._store.Count, engine.Recovery.IndexedVectors, engine.Recovery.IndexSource, elapsedMs);
        return engine;
    }

    // ---------------------------------------------------------------- lookups

    /// <summary>Looks a prompt up: exact layer first, then the semantic layer.</summary>
    /// <exception cref="CacheRequestException">The request breaks a rule or a limit; nothing was read.</exception>
    public async Task<CacheGetResult> GetAsync(CacheGetRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        long started = Stopwatch.GetTimestamp();
        string ns = RequestValidator.Namespace(request.Namespace);
        _validate.Attributes(request.Attributes);
        (string? text, ChatMessage[] context) = _validate.TextSource(request.Prompt, request.Messages);
        _validate.Vector(request.Vector.Span, "vector");
        if (text is null && request.Vector.IsEmpty)
        {
            throw RequestValidator.Invalid("prompt", "give a prompt, messages or a vector.");
        }

        if (request.MinSimilarity is float min && (float.IsNaN(min) || min < -1f || min > 1f))
        {
            throw RequestValidator.Invalid("min_similarity", $"{min} is outside [-1, 1].");
        }

        if (request.TopK < 0 || request.TopK > _options.MaxTopK)
        {
            throw RequestValidator.Invalid("top_k", $"{request.TopK} is above the maximum of {_options.MaxTopK} (Cache:MaxTopK).");
        }

        int topK = Math.Max(1, request.TopK);
        float threshold = request.MinSimilarity ?? _options.DefaultThreshold;
        Partition partition = Partition.Create(ns, request.Attributes, context);
        Counters counters = CountersOf(ns);
        var matches = new List<CacheMatch>(topK);
        string? normalized = text is null ? null : PromptText.Normalize(text);

        CacheEntry? exact = null;
        if (normalized is not null)
        {
            long lookup = Stopwatch.GetTimestamp();
            exact = await _store.GetByExactKeyAsync(ExactKeyOf(partition, normalized), cancellationToken).ConfigureAwait(false);
            Timings.ExactLookup.RecordSince(lookup);
            if (exact is not null && partition.Matches(exact) && string.Equals(exact.Prompt, normalized, StringComparison.Ordinal))
            {
                matches.Add(ToMatch(exact, 1f, exact: true));
            }
            else
            {
                exact = null;
            }
        }

        SemanticLayer layer;
        float? best = exact is null ? null : 1f;
        bool truncated = false;
        if (exact is not null && topK == 1)
        {
            layer = SemanticLayer.SkippedExactHit;
        }
        else if (request.ExactOnly)
        {
            layer = SemanticLayer.SkippedExactOnly;
        }
        else
        {
            ReadOnlyMemory<float> vector = request.Vector;
            if (vector.IsEmpty)
            {
                EmbeddingResult embedded = await EmbedAsync(normalized!, cancellationToken).ConfigureAwait(false);
                truncated = embedded.Truncated;
                vector = embedded.Vector;
            }

            if (truncated && !_options.SemanticMatchOnTruncatedPrompts)
            {
                layer = SemanticLayer.SkippedTruncated;
            }
            else if (!_dimensions.TryGet(ns, out int dimension) || !_indexes.TryGetValue(dimension, out PartitionedIndex? index))
            {
                layer = SemanticLayer.SkippedEmpty;
            }
            else if (vector.Length != dimension)
            {
                throw new CacheRequestException(CacheErrorKind.FailedPrecondition, "vector", $"{vector.Length} dimensions do not match namespace '{ns}', whose vectors have {dimension}.");
            }
            else
            {
                layer = SemanticLayer.Searched;
                best = await SearchAsync(index, partition, vector, topK, threshold, exact?.Id, matches, best, cancellationToken).ConfigureAwait(false);
            }
        }

        var result = new CacheGetResult(matches, best, layer, truncated);
        Count(counters, result);
        Timings.Get.RecordSince(started);
        return result;
    }

    // A Get that misses is usually followed by a Set of the same prompt (the app asked the model meanwhile): the
    // embedding is kept for a while, so the model runs once per prompt, not twice.
    private async Task<EmbeddingResult> EmbedAsync(string normalized, CancellationToken cancellationToken)
    {
        if (_recentEmbeddings.TryGet(normalized, out EmbeddingResult known))
        {
            return known;
        }

        long started = Stopwatch.GetTimestamp();
        EmbeddingResult embedded = await _embedder.EmbedAsync(normalized, cancellationToken).ConfigureAwait(false);
        Timings.Embed.RecordSince(started);
        _recentEmbeddings.Add(normalized, embedded);
        return embedded;
    }

    private async Task<float?> SearchAsync(PartitionedIndex index, Partition partition, ReadOnlyMemory<float> vector, int topK, float threshold, ulong? exactId, List<CacheMatch> matches, float? best, CancellationToken cancellationToken)
    {
        var key = new PartitionKey(partition.Key);
        int k = topK + SearchSlack + (exactId is null ? 0 : 1);
        long searching = Stopwatch.GetTimestamp();
        SearchResult[] results = index.Search(key, vector.Span, k);
        Timings.Search.RecordSince(searching);
        long fetching = Stopwatch.GetTimestamp();
        foreach (SearchResult result in results)
        {
            ulong id = (ulong)result.Id;
            if (id == exactId)
            {
                continue;
            }

            CacheEntry? entry = await _store.GetByIdAsync(id, cancellationToken).ConfigureAwait(false);
            if (entry is null)
            {
                // Expired or removed since the index was last told (e.g. across a crash): tidy the index up now.
                index.Remove(key, result.Id);
                continue;
            }

            if (!partition.Matches(entry))
            {
                continue;
            }

            // Results come most similar first: once one is below the threshold, or top_k are in, the rest cannot
            // change the answer, so they are not read from the store.
            best = best is null ? result.Similarity : MathF.Max(best.Value, result.Similarity);
            if (result.Similarity < threshold)
            {
                break;
            }

            matches.Add(ToMatch(entry, result.Similarity, exact: false));
            if (matches.Count == topK)
            {
                break;
            }
        }

        Timings.Fetch.RecordSince(fetching);
        return best;
    }

    private static CacheMatch ToMatch(CacheEntry entry, float similarity, bool exact) =>
        new(entry.Id.ToString(CultureInfo.InvariantCulture), entry.Prompt, entry.Response, similarity, exact, entry.Attributes, entry.CreatedUnixMs, entry.ExpiresUnixMs, entry.Usage);

    private void Count(Counters counters, CacheGetResult result)
    {
        long tokens = 0;
        double cost = 0;
        if (result.Hit)
        {
            // Savings are those of the answer the app will use: the best match.
            CacheMatch first = result.Matches[0];
            (tokens, cost) = SavingsOf(first);
        }

        foreach (Counters c in (ReadOnlySpan<Counters>)[counters, _total])
        {
            Interlocked.Increment(ref c.Gets);
            if (!result.Hit)
            {
                Interlocked.Increment(ref c.Misses);
                continue;
            }

            Interlocked.Increment(ref result.Matches[0].Exact ? ref c.ExactHits : ref c.SemanticHits);
            Interlocked.Add(ref c.TokensSaved, tokens);
            c.AddCost(cost);
        }
    }

    private (long Tokens, double Cost) SavingsOf(CacheMatch match) =>
        ((long)match.Usage.InputTokens + match.Usage.OutputTokens, CostOf(match.Usage));

    // ---------------------------------------------------------------- stores

    /// <summary>Stores a response; replaces the entry with the same exact key.</summary>
    /// <exception cref="CacheRequestException">The request breaks a rule or a limit; nothing was written.</exception>
    public async Task<CacheSetResult> SetAsync(CacheSetRequest request, CancellationToken cancellationToken = default)
    {
        PreparedSet prepared = Prepare(request, "");
        EmbeddingResult? embedded = prepared.NeedsEmbedding ? await EmbedAsync(prepared.Normalized, cancellationToken).ConfigureAwait(false) : null;
        return await WriteAsync(prepared, embedded, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stores many responses. Every entry is validated first: one bad entry rejects the call and writes nothing.</summary>
    public async Task<IReadOnlyList<CacheSetResult>> SetManyAsync(IReadOnlyList<CacheSetRequest> requests, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        if (requests.Count > _options.MaxSetManyEntries)
        {
            throw RequestValidator.TooLarge("entries", $"{requests.Count} entries exceed the limit of {_options.MaxSetManyEntries} (Cache:MaxSetManyEntries).");
        }

        var prepared = new PreparedSet[requests.Count];
        for (int i = 0; i < requests.Count; i++)
        {
            prepared[i] = Prepare(requests[i], $"entries[{i}].");
        }

        // Embed everything at once: the batcher turns the burst into a few model calls.
        var embeddings = new Task<EmbeddingResult>?[prepared.Length];
        for (int i = 0; i < prepared.Length; i++)
        {
            embeddings[i] = prepared[i].NeedsEmbedding ? EmbedAsync(prepared[i].Normalized, cancellationToken) : null;
        }

        var results = new CacheSetResult[prepared.Length];
        for (int i = 0; i < prepared.Length; i++)
        {
            EmbeddingResult? embedded = embeddings[i] is { } task ? await task.ConfigureAwait(false) : null;
            results[i] = await WriteAsync(prepared[i], embedded, cancellationToken).ConfigureAwait(false);
        }

        return results;
    }

    private PreparedSet Prepare(CacheSetRequest request, string prefix)
    {
        ArgumentNullException.ThrowIfNull(request);
        string ns = RequestValidator.Namespace(request.Namespace, prefix + "namespace");
        _validate.Attributes(request.Attributes, prefix);
        (string? text, ChatMessage[] context) = _validate.TextSource(request.Prompt, request.Messages, prefix);
        if (text is null)
        {
            throw RequestValidator.Invalid(prefix + "prompt", "a Set needs a prompt or messages (its exact key).");
        }

        if (string.IsNullOrEmpty(request.Response))
        {
            throw RequestValidator.Invalid(prefix + "response", "a Set needs a response.");
        }

        if (request.Response.Length > _options.MaxResponseChars)
        {
            throw RequestValidator.TooLarge(prefix + "response", $"{request.Response.Length} characters exceed the limit of {_options.MaxResponseChars} (Cache:MaxResponseChars).");
        }

        if (request.TtlSeconds > _storeOptions.MaxTtl.TotalSeconds)
        {
            throw RequestValidator.Invalid(prefix + "ttl_seconds", $"{request.TtlSeconds} s is above the maximum of {(long)_storeOptions.MaxTtl.TotalSeconds} s (Storage:MaxTtl).");
        }

        if (request.UsageModel.Length > 256)
        {
            throw RequestValidator.TooLarge(prefix + "usage.model", $"{request.UsageModel.Length} characters exceed the limit of 256.");
        }

        _validate.Vector(request.Vector.Span, prefix + "vector");
        Partition partition = Partition.Create(ns, request.Attributes, context);
        string normalized = PromptText.Normalize(text);
        if (!request.Vector.IsEmpty && _dimensions.TryGet(ns, out int dimension) && dimension != request.Vector.Length)
        {
            throw new CacheRequestException(CacheErrorKind.FailedPrecondition, prefix + "vector", $"{request.Vector.Length} dimensions do not match namespace '{ns}', whose vectors have {dimension}.");
        }

        if (request.Vector.IsEmpty && _dimensions.TryGet(ns, out dimension) && dimension != _embedder.Dimension)
        {
            throw new CacheRequestException(CacheErrorKind.FailedPrecondition, prefix + "vector", $"namespace '{ns}' holds {dimension}-dimensional vectors of its own; give a vector of that size, since the model's have {_embedder.Dimension}.");
        }

        return new PreparedSet(request, ns, partition, normalized, ExactKeyOf(partition, normalized));
    }

    private async Task<CacheSetResult> WriteAsync(PreparedSet set, EmbeddingResult? embedded, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        ReadOnlyMemory<float> vector = set.Request.Vector;
        if (embedded is { } e && (!e.Truncated || _options.SemanticMatchOnTruncatedPrompts))
        {
            vector = e.Vector;
        }

        if (!vector.IsEmpty)
        {
            int dimension = _dimensions.GetOrAdd(set.Namespace, vector.Length);
            if (dimension != vector.Length)
            {
                throw new CacheRequestException(CacheErrorKind.FailedPrecondition, "vector", $"{vector.Length} dimensions do not match namespace '{set.Namespace}', whose vectors have {dimension}.");
            }
        }

        var entry = new CacheEntry
        {
            Namespace = set.Namespace,
            Attributes = set.Partition.Attributes,
            ContextFingerprint = set.Partition.ContextFingerprint,
            Prompt = set.Normalized,
            Response = set.Request.Response,
            Usage = new TokenUsage(set.Request.UsageModel, (int)Math.Min(set.Request.InputTokens, int.MaxValue), (int)Math.Min(set.Request.OutputTokens, int.MaxValue)),
            Vector = vector,
        };
        TimeSpan? ttl = set.Request.TtlSeconds == 0 ? null : TimeSpan.FromSeconds(set.Request.TtlSeconds);
        SetResult stored = await _store.SetAsync(set.Key, entry, ttl, cancellationToken).ConfigureAwait(false);
        if (!vector.IsEmpty)
        {
            IndexFor(vector.Length).Add(new PartitionKey(set.Partition.Key), (long)stored.Id, vector.Span);
        }

        string id = stored.Id.ToString(CultureInfo.InvariantCulture);
        Counters counters = CountersOf(set.Namespace);
        Interlocked.Increment(ref counters.Sets);
        Interlocked.Increment(ref _total.Sets);
        Timings.Set.RecordSince(started);
        return new CacheSetResult(id, stored.Replaced, !vector.IsEmpty, stored.ExpiresUnixMs);
    }

    private double CostOf(TokenUsage usage) =>
        _options.ModelPrices.TryGetValue(usage.Model, out ModelPrice? price)
            ? ((usage.InputTokens * price.InputPerMillion) + (usage.OutputTokens * price.OutputPerMillion)) / 1_000_000
            : 0;

    private PartitionedIndex IndexFor(int dimension) =>
        _indexes.GetOrAdd(dimension, d => new PartitionedIndex(_indexTemplate with { Dimension = d }));

    // Exact keys hold the normalised prompt itself; past the store's key limit, its SHA-256 stands in (hits still
    // compare the full stored prompt).
    private static ExactKey ExactKeyOf(Partition partition, string normalized)
    {
        if (Encoding.UTF8.GetByteCount(normalized) <= ExactKey.MaxTextBytes)
        {
            return ExactKey.FromString(partition.Key, normalized);
        }

        byte[] digest = SHA256.HashData(Encoding.UTF8.GetBytes(normalized));
        return new ExactKey(partition.Key, Encoding.UTF8.GetBytes("\0sha256:" + Convert.ToHexStringLower(digest)));
    }

    // ---------------------------------------------------------------- deletes and statistics

    /// <summary>Deletes one entry (by id, only within the namespace), one partition, or a whole namespace.</summary>
    /// <returns>Entries deleted.</returns>
    public async Task<long> DeleteAsync(CacheDeleteRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        string ns = RequestValidator.Namespace(request.Namespace);
        _validate.Attributes(request.Attributes);
        if (request.EntireNamespace)
        {
            if (!string.IsNullOrEmpty(request.Id) || request.Attributes.Count > 0 || request.Messages.Count > 0)
            {
                throw RequestValidator.Invalid("entire_namespace", "deletes the whole namespace: give no id, attributes or messages with it.");
            }

            int deleted = await _store.DeleteNamespaceAsync(ns, cancellationToken).ConfigureAwait(false);
            _dimensions.Remove(ns);
            return deleted;
        }

        if (!string.IsNullOrEmpty(request.Id))
        {
            if (!ulong.TryParse(request.Id, NumberStyles.None, CultureInfo.InvariantCulture, out ulong id))
            {
                throw RequestValidator.Invalid("id", $"'{RequestValidator.Shorten(request.Id)}' is not an entry id (ids are decimal numbers, as Set returns them).");
            }

            // Only within the caller's namespace: an id alone must not reach into another tenant's entries.
            CacheEntry? entry = await _store.GetByIdAsync(id, cancellationToken).ConfigureAwait(false);
            if (entry is null || !string.Equals(entry.Namespace, ns, StringComparison.Ordinal))
            {
                return 0;
            }

            return await _store.DeleteAsync(id, cancellationToken).ConfigureAwait(false) ? 1 : 0;
        }

        ChatMessage[] context = request.Messages.Count == 0 ? [] : _validate.TextSource(null, request.Messages).Context;
        Partition partition = Partition.Create(ns, request.Attributes, context);
        return await _store.DeletePartitionAsync(partition.Key, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Counters of the whole cache (<paramref name="ns"/> empty) or of one namespace since start.</summary>
    public CacheStatistics GetStatistics(string? ns = null)
    {
        EntryStoreStatistics store = _store.GetStatistics();
        if (string.IsNullOrEmpty(ns))
        {
            return _total.Snapshot(store.Entries, Interlocked.Read(ref _evictions), Interlocked.Read(ref _expirations));
        }

        string name = RequestValidator.Namespace(ns);
        Counters counters = CountersOf(name);
        return counters.Snapshot(_store.CountInNamespace(name), Interlocked.Read(ref counters.Evictions), Interlocked.Read(ref counters.Expirations));
    }

    private Counters CountersOf(string ns)
    {
        if (_namespaceCounters.TryGetValue(ns, out Counters? counters))
        {
            return counters;
        }

        counters = _namespaceCounters.GetOrAdd(ns, static _ => new Counters());
        _countersByNamespaceHash.TryAdd(EntryStore.NamespaceHashOf(ns), counters);
        return counters;
    }

    // ---------------------------------------------------------------- store notifications

    /// <inheritdoc />
    void IEntryStoreObserver.OnEntriesRemoved(ReadOnlySpan<RemovedEntry> removed)
    {
        foreach (RemovedEntry entry in removed)
        {
            RemoveFromIndex(entry);

            if (entry.Reason is RemovalReason.Evicted or RemovalReason.Expired)
            {
                bool evicted = entry.Reason == RemovalReason.Evicted;
                Interlocked.Increment(ref evicted ? ref _evictions : ref _expirations);
                if (_countersByNamespaceHash.TryGetValue(entry.NamespaceHash, out Counters? counters))
                {
                    Interlocked.Increment(ref evicted ? ref counters.Evictions : ref counters.Expirations);
                }
            }
        }
    }

    /// <inheritdoc />
    void IEntryStoreObserver.OnCheckpointCaptured(long sequence)
    {
        // Called with writes paused: only schedule the snapshot. The index taken a moment later may hold a few more
        // changes than the checkpoint; recovery tolerates that (extra ids are dropped when a search meets them).
        if (_indexDirectory is not null && Volatile.Read(ref _disposed) == 0)
        {
            _ = Task.Run(() => SaveSnapshotAsync(sequence));
        }
    }

    private async Task SaveSnapshotAsync(long sequence)
    {
        await _snapshotGate.WaitAsync().ConfigureAwait(false);
        try
        {
            SaveSnapshot(sequence);
        }
#pragma warning disable CA1031 // A failed snapshot costs a rebuild at the next start, never the server.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.SnapshotFailed(_logger, e);
        }
        finally
        {
            _snapshotGate.Release();
        }
    }

    private void SaveSnapshot(long sequence)
    {
        string directory = _indexDirectory!;
        var dimensions = new List<int>();
        foreach ((int dimension, PartitionedIndex index) in _indexes)
        {
            index.Save(Path.Combine(directory, $"d{dimension}.snapshot"));
            dimensions.Add(dimension);
        }

        string manifest = Path.Combine(directory, ManifestName);
        string temp = manifest + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, new SnapshotManifest(sequence, dimensions));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, manifest, overwrite: true);
    }

    // ---------------------------------------------------------------- recovery

    private EngineRecovery RestoreIndex()
    {
        RecoveryReport report = _store.Recovery;
        string? reason = "memory only";
        EngineRecovery recovery;
        if (_indexDirectory is not null && TryLoadSnapshot(report, out reason))
        {
            // The snapshot holds the index as of the checkpoint recovery started from: apply what the store replayed.
            foreach (RemovedEntry removed in report.Removed)
            {
                RemoveFromIndex(removed);
            }

            long added = 0;
            if (report.AddedIds.Count > 0)
            {
                var wanted = new HashSet<ulong>(report.AddedIds);
                foreach (LiveEntry live in _store.EnumerateLiveEntries())
                {
                    if (wanted.Contains(live.Id) && !live.Vector.IsEmpty)
                    {
                        IndexFor(live.Vector.Length).TryAdd(new PartitionKey(live.Partition), (long)live.Id, live.Vector.Span);
                        added++;
                    }
                }
            }

            recovery = new EngineRecovery("snapshot", CountIndexed(), added, report);
        }
        else
        {
            foreach (PartitionedIndex index in _indexes.Values)
            {
                index.Dispose();
            }

            _indexes.Clear();
            foreach (LiveEntry live in _store.EnumerateLiveEntries())
            {
                if (!live.Vector.IsEmpty)
                {
                    IndexFor(live.Vector.Length).TryAdd(new PartitionKey(live.Partition), (long)live.Id, live.Vector.Span);
                }
            }

            recovery = new EngineRecovery(reason ?? "rebuilt", CountIndexed(), 0, report);
        }

        // The store checkpointed itself after recovery when anything changed; the index now matches that checkpoint,
        // so it is saved under it, and a crash right after start-up finds a snapshot to use.
        if (_indexDirectory is not null && report.CurrentCheckpointSequence != report.CheckpointSequence)
        {
            SaveSnapshot(report.CurrentCheckpointSequence);
        }

        return recovery;
    }

    private void RemoveFromIndex(RemovedEntry entry)
    {
        var key = new PartitionKey(entry.Partition);
        foreach (PartitionedIndex index in _indexes.Values)
        {
            if (index.Remove(key, (long)entry.Id))
            {
                return;
            }
        }
    }

    private bool TryLoadSnapshot(RecoveryReport report, out string? reason)
    {
        reason = null;
        string manifestPath = Path.Combine(_indexDirectory!, ManifestName);
        if (report.CreatedNew)
        {
            reason = "new";
            return false;
        }

        if (!File.Exists(manifestPath))
        {
            reason = "rebuilt (no index snapshot)";
            return false;
        }

        SnapshotManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<SnapshotManifest>(File.ReadAllText(manifestPath));
        }
        catch (JsonException)
        {
            reason = "rebuilt (damaged index manifest)";
            return false;
        }

        if (manifest is null || manifest.Sequence != report.CheckpointSequence)
        {
            reason = $"rebuilt (index snapshot of checkpoint {manifest?.Sequence}, store recovered checkpoint {report.CheckpointSequence})";
            return false;
        }

        try
        {
            foreach (int dimension in manifest.Dimensions)
            {
                PartitionedIndex loaded = PartitionedIndex.Load(Path.Combine(_indexDirectory!, $"d{dimension}.snapshot"), _indexTemplate.RescoreStorageDirectory);
                _indexes[dimension] = loaded;
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            Log.SnapshotUnusable(_logger, e.Message);
            reason = "rebuilt (index snapshot unusable: " + e.Message + ")";
            return false;
        }

        return true;
    }

    private long CountIndexed()
    {
        long total = 0;
        foreach (PartitionedIndex index in _indexes.Values)
        {
            total += index.Count;
        }

        return total;
    }

    /// <summary>Checkpoints the store and saves the index snapshot beside it (also done periodically and at shutdown).</summary>
    public async Task CheckpointAsync(CancellationToken cancellationToken = default)
    {
        CheckpointInfo info = await _store.CheckpointAsync(cancellationToken).ConfigureAwait(false);
        if (_indexDirectory is not null)
        {
            await _snapshotGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                SaveSnapshot(info.Sequence);
            }
            finally
            {
                _snapshotGate.Release();
            }
        }
    }

    /// <summary>Graceful shutdown: the store's final checkpoint, then an index snapshot that matches it exactly.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _store.DisposeAsync().ConfigureAwait(false);
        if (_indexDirectory is not null)
        {
            await _snapshotGate.WaitAsync().ConfigureAwait(false);
            try
            {
                SaveSnapshot(_store.CheckpointSequence);
            }
            finally
            {
                _snapshotGate.Release();
            }
        }

        foreach (PartitionedIndex index in _indexes.Values)
        {
            index.Dispose();
        }

        _snapshotGate.Dispose();
    }

    /// <summary>Test hook: runs the store's expiry sweep now.</summary>
    internal int SweepExpired() => _store.SweepExpired();

    /// <summary>Test hook: the store, for tests that crash it.</summary>
    internal EntryStore Store => _store;

    /// <summary>Test hook: drops the engine as a killed process would (no final checkpoint, no index snapshot).</summary>
    internal void Abandon()
    {
        Interlocked.Exchange(ref _disposed, 1);
        foreach (PartitionedIndex index in _indexes.Values)
        {
            index.Dispose();
        }
    }

    private sealed record PreparedSet(CacheSetRequest Request, string Namespace, Partition Partition, string Normalized, ExactKey Key)
    {
        public bool NeedsEmbedding => Request.Vector.IsEmpty;
    }

    private sealed record SnapshotManifest(long Sequence, List<int> Dimensions);

    private sealed class Counters
    {
#pragma warning disable SA1401, CA1051 // Fields, for Interlocked.
        public long Gets;
        public long ExactHits;
        public long SemanticHits;
        public long Misses;
        public long Sets;
        public long Evictions;
        public long Expirations;
        public long TokensSaved;
        private long _costMicroCents;
#pragma warning restore SA1401, CA1051

        public void AddCost(double usd) => Interlocked.Add(ref _costMicroCents, (long)Math.Round(usd * 1e8));

        public CacheStatistics Snapshot(long entries, long evictions, long expirations) => new(
            entries,
            Interlocked.Read(ref Gets),
            Interlocked.Read(ref ExactHits),
            Interlocked.Read(ref SemanticHits),
            Interlocked.Read(ref Misses),
            Interlocked.Read(ref Sets),
            evictions,
            expirations,
            Interlocked.Read(ref TokensSaved),
            Interlocked.Read(ref _costMicroCents) / 1e8);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Cache recovered: {Entries} entries, {Vectors} vectors indexed ({IndexSource}) in {ElapsedMs:F0} ms")]
        public static partial void Recovered(ILogger logger, long entries, long vectors, string indexSource, double elapsedMs);

        [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Index snapshot failed; the next start rebuilds the index from the store")]
        public static partial void SnapshotFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Index snapshot unusable ({Reason}); rebuilding from the store's vectors")]
        public static partial void SnapshotUnusable(ILogger logger, string reason);
    }
}

/// <summary>What the engine restored at start-up.</summary>
/// <param name="IndexSource">Where the index came from: <c>snapshot</c>, <c>new</c>, or <c>rebuilt (…why)</c>.</param>
/// <param name="IndexedVectors">Vectors in the index after recovery.</param>
/// <param name="ReplayedIntoIndex">Vectors added on top of the snapshot from the store's replayed writes.</param>
/// <param name="Store">The store's own recovery report.</param>
public sealed record EngineRecovery(string IndexSource, long IndexedVectors, long ReplayedIntoIndex, RecoveryReport Store);
