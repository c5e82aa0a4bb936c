using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SemCache.Cache.Indexing;
using SemCache.Cache.Requests;
using SemCache.Cache.Statistics;
using SemCache.Cache.Store;
using SemCache.Cache.Telemetry;
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
/// <remarks>
/// The engine orchestrates; each concern has its own type: <see cref="RequestValidator"/> (every check of a request),
/// <see cref="SemanticIndex"/> (vectors and namespace dimensions), <see cref="IndexPersistence"/> (snapshots and their
/// reconciliation with the store), <see cref="StatisticsRegistry"/> (counters), <see cref="ICacheEntryStore"/> (entries).
/// </remarks>
public sealed partial class SemanticCacheEngine : IEntryStoreObserver, IAsyncDisposable
{
    private const int SearchSlack = 4;

    private readonly CacheOptions _options;
    private readonly TextEmbedder _embedder;
    private readonly RequestValidator _validate;
    private readonly ILogger _logger;
    private readonly SemanticIndex _index;
    private readonly IndexPersistence _persistence;
    private readonly RecentEmbeddings _recentEmbeddings = new(4096);
    private readonly StatisticsRegistry _statistics;
    private readonly CacheTelemetry _telemetry;
    private readonly bool _ownsTelemetry;
    private readonly Lock _restoreLock = new();
    private List<RemovedEntry>? _removedWhileRestoring = [];
#pragma warning disable CA1859 // The engine owns the interface; FASTER is its first implementation, not its only one.
    private ICacheEntryStore _store = null!;
#pragma warning restore CA1859
    private int _disposed;

    private SemanticCacheEngine(CacheOptions options, EntryStoreOptions storeOptions, VectorIndexOptions indexTemplate, TextEmbedder embedder, ILogger logger, CacheTelemetry? telemetry)
    {
        _ownsTelemetry = telemetry is null;
        _telemetry = telemetry ?? new CacheTelemetry();
        _options = options;
        _embedder = embedder;
        _validate = new RequestValidator(options, storeOptions.MaxTtl);
        _logger = logger;
        _index = new SemanticIndex(indexTemplate);
        _persistence = new IndexPersistence(Path.Combine(storeOptions.DataDirectory, "index"), indexTemplate.RescoreStorageDirectory, logger);
        _statistics = new StatisticsRegistry(ns => _store.CountInNamespace(ns));
    }

    /// <summary>The embedder the engine runs prompts through.</summary>
    public TextEmbedder Embedder => _embedder;

    /// <summary>The engine's metrics and spans (the host's, or the engine's own when it was given none).</summary>
    public CacheTelemetry Telemetry => _telemetry;

    /// <summary>What recovery found when the engine opened.</summary>
    public EngineRecovery Recovery { get; private set; } = null!;

    /// <summary>Whether writes can be made durable now (reads are served either way).</summary>
    public CacheHealth Health => _store.Health;

    /// <summary>
    /// Opens the store in its data directory (recovering what it holds) and restores the vector index: its snapshot,
    /// reconciled with the store's live entries, or rebuilt from the stored vectors. Never re-embeds.
    /// </summary>
    /// <param name="options">The cache's options.</param>
    /// <param name="storeOptions">The entry store's options.</param>
    /// <param name="indexOptions">The vector index's options (its dimension comes from the model).</param>
    /// <param name="embedder">The embedder.</param>
    /// <param name="loggerFactory">Where the engine logs; nowhere when null.</param>
    /// <param name="timeProvider">The clock of TTLs; the system's when null.</param>
    /// <param name="telemetry">Where the engine's metrics go (the host's meter); the engine's own, unexported, when null.</param>
    /// <param name="cancellationToken">Cancels the opening.</param>
    public static async Task<SemanticCacheEngine> OpenAsync(
        CacheOptions options,
        EntryStoreOptions storeOptions,
        VectorIndexOptions? indexOptions,
        TextEmbedder embedder,
        ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null,
        CacheTelemetry? telemetry = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(storeOptions);
        ArgumentNullException.ThrowIfNull(embedder);
        options.Validate();
        storeOptions.Validate();
        loggerFactory ??= NullLoggerFactory.Instance;
        VectorIndexOptions template = (indexOptions ?? new VectorIndexOptions { Dimension = embedder.Dimension }) with { Dimension = embedder.Dimension };
        template.Validate();
        var engine = new SemanticCacheEngine(options, storeOptions, template, embedder, loggerFactory.CreateLogger<SemanticCacheEngine>(), telemetry);
        long started = Stopwatch.GetTimestamp();
        engine._store = await FasterCacheStore.OpenAsync(storeOptions, engine, loggerFactory, timeProvider, cancellationToken).ConfigureAwait(false);
        try
        {
            engine.Recovery = await engine._persistence.RestoreAsync(engine._index, engine._store, cancellationToken).ConfigureAwait(false);
            engine.ApplyRemovalsHeldDuringRestore();

            // The index now matches the store exactly: saved in the background (serving need not wait for it), so a crash
            // soon after start-up finds a snapshot with little to reconcile.
            if (engine.Recovery.ReplayedIntoIndex > 0 || engine.Recovery.RemovedFromIndex > 0 || engine.Recovery.IndexSource != "snapshot")
            {
                long sequence = engine._store.CheckpointSequence;
                _ = Task.Run(() => engine._persistence.TrySaveAsync(engine._index, sequence), CancellationToken.None);
            }
        }
        catch
        {
            engine._index.Dispose();
            await engine._store.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        engine._telemetry.Observe(() => engine.GetStatistics(), () => engine._store.Bytes);
        double elapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        Log.Recovered(engine._logger, engine._store.Count, engine.Recovery.IndexedVectors, engine.Recovery.IndexSource, elapsedMs);
        return engine;
    }

    // ---------------------------------------------------------------- lookups

    /// <summary>Looks a prompt up: exact layer first, then the semantic layer.</summary>
    /// <exception cref="CacheRequestException">The request breaks a rule or a limit; nothing was read.</exception>
    public async Task<CacheGetResult> GetAsync(CacheGetRequest request, CancellationToken cancellationToken = default)
    {
        try
        {
            return await GetCoreAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not CacheRequestException && StoreErrors.Map(e) is { } mapped)
        {
            throw mapped;
        }
    }

    // Spans carry the namespace, the result and similarities, never the prompt or the response.
    private async Task<CacheGetResult> GetCoreAsync(CacheGetRequest request, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        using Activity? span = CacheTelemetry.Source.StartActivity("semcache.get");
        ValidGet get;
        try
        {
            get = _validate.Get(request);
        }
        catch (CacheRequestException e)
        {
            span?.SetStatus(ActivityStatusCode.Error, e.Field);
            throw;
        }

        span?.SetTag("semcache.namespace", get.Namespace);
        var matches = new List<CacheMatch>(get.TopK);

        CacheEntry? exact = null;
        if (get.Key is { } key)
        {
            long lookup = Stopwatch.GetTimestamp();
            using (Activity? lookupSpan = CacheTelemetry.Source.StartActivity("semcache.exact_lookup"))
            {
                exact = await _store.GetByExactKeyAsync(key, includeVector: false, cancellationToken).ConfigureAwait(false);
                lookupSpan?.SetTag("semcache.found", exact is not null);
            }

            _telemetry.Stage(CacheStage.ExactLookup, lookup);
            if (exact is not null && get.Partition.Matches(exact) && string.Equals(exact.Prompt, get.Normalized, StringComparison.Ordinal))
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
        if (exact is not null && get.TopK == 1)
        {
            layer = SemanticLayer.SkippedExactHit;
        }
        else if (get.ExactOnly)
        {
            layer = SemanticLayer.SkippedExactOnly;
        }
        else
        {
            // The model runs even when the namespace holds no vectors yet: the Set that usually follows a miss reuses
            // the embedding, and prompt_truncated is reported either way.
            ReadOnlyMemory<float> vector = get.Vector;
            if (vector.IsEmpty)
            {
                EmbeddingResult embedded = await EmbedAsync(get.Namespace, get.Normalized!, cancellationToken).ConfigureAwait(false);
                truncated = embedded.Truncated;
                vector = embedded.Vector;
            }

            if (truncated && !_options.SemanticMatchOnTruncatedPrompts)
            {
                layer = SemanticLayer.SkippedTruncated;
            }
            else if (!_index.TryGetDimension(get.NamespaceHash, out int dimension) || _index.IndexOf(dimension) is not { } index)
            {
                layer = SemanticLayer.SkippedEmpty;
            }
            else if (vector.Length != dimension)
            {
                throw SemanticIndex.DimensionMismatch("vector", get.Namespace, dimension, vector.Length, fromModel: get.Vector.IsEmpty);
            }
            else
            {
                layer = SemanticLayer.Searched;
                best = await SearchAsync(index, get, vector, exact?.Id, matches, best, cancellationToken).ConfigureAwait(false);
            }
        }

        var result = new CacheGetResult(matches, best, layer, truncated);
        // Counted per namespace only for a namespace that holds (or held since start) entries: a made-up name leaves no state.
        Counters? counters = _statistics.Find(get.Namespace) ?? (_store.CountInNamespace(get.Namespace) > 0 ? _statistics.ForWrite(get.Namespace, get.NamespaceHash) : null);
        Count(get.Namespace, counters, result);
        _telemetry.Stage(CacheStage.Get, started);
        if (span is not null)
        {
            span.SetTag("semcache.result", ResultOf(result));
            span.SetTag("semcache.semantic_layer", layer.ToString());
            span.SetTag("semcache.matches", matches.Count);
            if (best is float similarity)
            {
                span.SetTag("semcache.best_similarity", similarity);
            }
        }

        return result;
    }

    // A Get that misses is usually followed by a Set of the same prompt (the app asked the model meanwhile): the
    // embedding is kept for a while, so the model runs once per prompt, not twice.
    private async Task<EmbeddingResult> EmbedAsync(string ns, string normalized, CancellationToken cancellationToken, EmbeddingPriority priority = EmbeddingPriority.Interactive)
    {
        if (_recentEmbeddings.TryGet(ns, normalized, out EmbeddingResult known))
        {
            return known;
        }

        long started = Stopwatch.GetTimestamp();
        using Activity? span = CacheTelemetry.Source.StartActivity("semcache.embed");
        EmbeddingResult embedded = await _embedder.EmbedAsync(normalized, priority, cancellationToken).ConfigureAwait(false);
        _telemetry.Stage(CacheStage.Embed, started);
        _telemetry.Stage(CacheStage.EmbedQueue, embedded.QueueWait);
        _telemetry.Stage(CacheStage.Model, embedded.ModelTime);
        if (span is not null)
        {
            span.SetTag("semcache.embed.queue_wait_ms", embedded.QueueWait.TotalMilliseconds);
            span.SetTag("semcache.embed.model_ms", embedded.ModelTime.TotalMilliseconds);
            span.SetTag("semcache.embed.batch_size", embedded.BatchSize);
            span.SetTag("semcache.embed.tokens", embedded.TokenCount);
            span.SetTag("semcache.embed.truncated", embedded.Truncated);
        }

        _recentEmbeddings.Add(ns, normalized, embedded);
        return embedded;
    }

    // Read-only: a candidate the store no longer has is skipped (the store's removal notice takes it out of the index).
    private async Task<float?> SearchAsync(PartitionedIndex index, ValidGet get, ReadOnlyMemory<float> vector, ulong? exactId, List<CacheMatch> matches, float? best, CancellationToken cancellationToken)
    {
        var key = new PartitionKey(get.Partition.Key);
        int k = get.TopK + SearchSlack + (exactId is null ? 0 : 1);
        long searching = Stopwatch.GetTimestamp();
        SearchResult[] results;
        using (Activity? searchSpan = CacheTelemetry.Source.StartActivity("semcache.search"))
        {
            results = index.Search(key, vector.Span, k);
            if (searchSpan is not null)
            {
                searchSpan.SetTag("semcache.candidates", results.Length);
                if (results.Length > 0)
                {
                    searchSpan.SetTag("semcache.best_similarity", results[0].Similarity);
                }
            }
        }

        _telemetry.Stage(CacheStage.Search, searching);
        long fetching = Stopwatch.GetTimestamp();
        using Activity? fetchSpan = CacheTelemetry.Source.StartActivity("semcache.fetch");
        int read = 0;
        foreach (SearchResult result in results)
        {
            ulong id = (ulong)result.Id;
            if (id == exactId)
            {
                continue;
            }

            // Results come most similar first: once one is below the threshold the rest cannot change the answer. That
            // one is not read (a read would extend a sliding TTL and count as a hit for eviction): it only gives
            // best_similarity, if the store still holds it.
            if (result.Similarity < get.Threshold)
            {
                if (_store.Contains(id))
                {
                    best = best is null ? result.Similarity : MathF.Max(best.Value, result.Similarity);
                    break;
                }

                continue;
            }

            CacheEntry? entry = await _store.GetByIdAsync(id, includeVector: false, cancellationToken).ConfigureAwait(false);
            read++;
            if (entry is null || !get.Partition.Matches(entry))
            {
                continue;
            }

            best = best is null ? result.Similarity : MathF.Max(best.Value, result.Similarity);

            matches.Add(ToMatch(entry, result.Similarity, exact: false));
            if (matches.Count == get.TopK)
            {
                break;
            }
        }

        fetchSpan?.SetTag("semcache.entries_read", read);
        _telemetry.Stage(CacheStage.Fetch, fetching);
        return best;
    }

    private static CacheMatch ToMatch(CacheEntry entry, float similarity, bool exact) =>
        new(entry.Id.ToString(CultureInfo.InvariantCulture), entry.Prompt, entry.Response, similarity, exact, entry.Attributes, entry.CreatedUnixMs, entry.ExpiresUnixMs, entry.Usage);

    private static string ResultOf(CacheGetResult result) => !result.Hit ? "miss" : result.Matches[0].Exact ? "exact" : "semantic";

    private void Count(string ns, Counters? counters, CacheGetResult result)
    {
        long tokens = 0;
        double cost = 0;
        bool priced = false;
        TokenUsage usage = default;
        if (result.Hit)
        {
            // Savings are those of the answer the app will use: the best match.
            usage = result.Matches[0].Usage;
            tokens = (long)usage.InputTokens + usage.OutputTokens;
            priced = TryCost(usage, out cost);
        }

        if (_telemetry.Counting)
        {
            string label = _telemetry.NamespaceLabel(ns, tracked: counters is not null);
            _telemetry.Get(label, ResultOf(result), result.BestSimilarity, result.Semantic == SemanticLayer.Searched);
            if (tokens > 0)
            {
                _telemetry.Saved(label, usage.Model ?? "", priced, tokens, cost);
            }
        }

        foreach (Counters? c in (ReadOnlySpan<Counters?>)[counters, _statistics.Total])
        {
            if (c is null)
            {
                continue;
            }

            Interlocked.Increment(ref c.Gets);
            if (!result.Hit)
            {
                Interlocked.Increment(ref c.Misses);
                continue;
            }

            Interlocked.Increment(ref result.Matches[0].Exact ? ref c.ExactHits : ref c.SemanticHits);
            Interlocked.Add(ref c.TokensSaved, tokens);
            if (priced)
            {
                c.AddCost(cost);
            }
            else
            {
                Interlocked.Add(ref c.UnpricedTokens, tokens);
            }
        }
    }

    // A model with no price (or none named) saves tokens that are counted as unpriced, not as $0 silently.
    private bool TryCost(TokenUsage usage, out double usd)
    {
        if (usage.Model is { Length: > 0 } model && _options.ModelPrices.TryGetValue(model, out ModelPrice? price))
        {
            usd = ((usage.InputTokens * price.InputPerMillion) + (usage.OutputTokens * price.OutputPerMillion)) / 1_000_000;
            return true;
        }

        usd = 0;
        return false;
    }

    // ---------------------------------------------------------------- stores

    /// <summary>Stores a response; replaces the entry with the same exact key.</summary>
    /// <exception cref="CacheRequestException">The request breaks a rule or a limit; nothing was written.</exception>
    public async Task<CacheSetResult> SetAsync(CacheSetRequest request, CancellationToken cancellationToken = default)
    {
        using Activity? span = CacheTelemetry.Source.StartActivity("semcache.set");
        ValidSet[] sets = [_validate.Set(request)];
        span?.SetTag("semcache.namespace", sets[0].Namespace);
        return (await WriteAsync(sets, cancellationToken).ConfigureAwait(false))[0];
    }

    /// <summary>
    /// Stores many responses, all or none: every entry is checked first (fields, limits, stored size, vector dimensions
    /// against their namespaces and each other); one bad entry rejects the call and writes nothing.
    /// </summary>
    public async Task<IReadOnlyList<CacheSetResult>> SetManyAsync(IReadOnlyList<CacheSetRequest> requests, CancellationToken cancellationToken = default)
    {
        using Activity? span = CacheTelemetry.Source.StartActivity("semcache.set_many");
        ValidSet[] sets = _validate.SetMany(requests);
        span?.SetTag("semcache.entries", sets.Length);
        return sets.Length == 0 ? [] : await WriteAsync(sets, cancellationToken).ConfigureAwait(false);
    }

    private async Task<CacheSetResult[]> WriteAsync(ValidSet[] sets, CancellationToken cancellationToken)
    {
        // A namespace holding vectors of its own size cannot take the model's: said before the model runs.
        for (int i = 0; i < sets.Length; i++)
        {
            if (sets[i].Vector.IsEmpty && _index.TryGetDimension(sets[i].NamespaceHash, out int held) && held != _embedder.Dimension)
            {
                throw SemanticIndex.DimensionMismatch(sets[i].Prefix + "vector", sets[i].Namespace, held, _embedder.Dimension, fromModel: true);
            }
        }

        // Embed everything at once: the batcher turns a burst into a few model calls. Submitted shortest first, so that
        // each model call the batcher cuts from the queue holds texts of similar length and pads little.
        var embeddings = new Task<EmbeddingResult>?[sets.Length];
        int[] order = [.. Enumerable.Range(0, sets.Length)];
        if (sets.Length > 1)
        {
            Array.Sort(order, (a, b) => sets[a].Normalized.Length.CompareTo(sets[b].Normalized.Length));
        }

        // A SetMany is a bulk load: its texts wait while lookups are queued, so importing does not hold up Gets.
        EmbeddingPriority priority = sets.Length > 1 ? EmbeddingPriority.Bulk : EmbeddingPriority.Interactive;
        foreach (int i in order)
        {
            embeddings[i] = sets[i].Vector.IsEmpty ? EmbedAsync(sets[i].Namespace, sets[i].Normalized, cancellationToken, priority) : null;
        }

        var vectors = new ReadOnlyMemory<float>[sets.Length];
        var writes = new StoreWrite[sets.Length];
        for (int i = 0; i < sets.Length; i++)
        {
            ValidSet set = sets[i];
            vectors[i] = set.Vector;
            if (embeddings[i] is { } task)
            {
                EmbeddingResult embedded = await task.ConfigureAwait(false);
                vectors[i] = !embedded.Truncated || _options.SemanticMatchOnTruncatedPrompts ? embedded.Vector : ReadOnlyMemory<float>.Empty;
            }

            var entry = new CacheEntry
            {
                Namespace = set.Namespace,
                Attributes = set.Partition.Attributes,
                ContextFingerprint = set.Partition.ContextFingerprint,
                Prompt = set.Normalized,
                Response = set.Response,
                Usage = set.Usage,
                Vector = vectors[i],
            };
            int size = _store.MeasureEntry(set.Key, entry);
            if (size > _store.MaxEntryBytes)
            {
                string field = set.Response.Length >= set.Normalized.Length ? set.Prefix + "response" : set.TextField;
                throw RequestValidator.TooLarge(field, $"the entry is {size} bytes stored (prompt, response, vector, attributes), above the limit of {_store.MaxEntryBytes} (Storage:MaxEntryBytes).");
            }

            writes[i] = new StoreWrite(set.Key, entry, set.Ttl);
        }

        // Past this point the call is not cancelled: entries the store has taken must reach the index as well.
        cancellationToken.ThrowIfCancellationRequested();
        _index.Reserve(sets, vectors);
        long started = Stopwatch.GetTimestamp();
        IReadOnlyList<SetResult> stored;
        try
        {
            stored = await _store.SetManyAsync(writes, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            for (int i = 0; i < sets.Length; i++)
            {
                if (!vectors[i].IsEmpty)
                {
                    _index.Release(sets[i].NamespaceHash);
                }
            }

            if (StoreErrors.Map(e, sets[0].Prefix.Length == 0 ? "" : "entries") is { } mapped)
            {
                throw mapped;
            }

            throw;
        }

        var results = new CacheSetResult[sets.Length];
        for (int i = 0; i < sets.Length; i++)
        {
            ValidSet set = sets[i];
            if (!vectors[i].IsEmpty && !_index.TryAddReserved(set.NamespaceHash, set.Partition.Key, stored[i].Id, vectors[i].Span, _store.Contains, out Exception? failure))
            {
                Log.IndexAddFailed(_logger, stored[i].Id, failure);
            }

            Counters? tracked = _statistics.ForWrite(set.Namespace, set.NamespaceHash);
            foreach (Counters? counters in (ReadOnlySpan<Counters?>)[tracked, _statistics.Total])
            {
                if (counters is not null)
                {
                    Interlocked.Increment(ref counters.Sets);
                }
            }

            if (_telemetry.Counting)
            {
                _telemetry.Set(_telemetry.NamespaceLabel(set.Namespace, tracked: tracked is not null));
            }

            results[i] = new CacheSetResult(stored[i].Id.ToString(CultureInfo.InvariantCulture), stored[i].Replaced, !vectors[i].IsEmpty, stored[i].ExpiresUnixMs);
        }

        _telemetry.Stage(CacheStage.Set, started);
        return results;
    }

    // ---------------------------------------------------------------- deletes and statistics

    /// <summary>Deletes one entry (by id, only within the namespace), one partition, or a whole namespace.</summary>
    /// <returns>Entries deleted.</returns>
    public async Task<long> DeleteAsync(CacheDeleteRequest request, CancellationToken cancellationToken = default)
    {
        ValidDelete delete = _validate.Delete(request);
        try
        {
            if (delete.Id is ulong id)
            {
                // Only within the caller's namespace: an id alone must not reach into another tenant's entries.
                CacheEntry? entry = await _store.GetByIdAsync(id, includeVector: false, cancellationToken).ConfigureAwait(false);
                if (entry is null || !string.Equals(entry.Namespace, delete.Namespace, StringComparison.Ordinal))
                {
                    return 0;
                }

                return await _store.DeleteAsync(id, cancellationToken).ConfigureAwait(false) ? 1 : 0;
            }

            return delete.Partition is { } partition
                ? await _store.DeletePartitionAsync(partition.Key, cancellationToken).ConfigureAwait(false)
                : await _store.DeleteNamespaceAsync(delete.Namespace, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (StoreErrors.Map(e) is { } mapped)
        {
            throw mapped;
        }
    }

    /// <summary>Counters of the whole cache (<paramref name="ns"/> empty) or of one namespace since start.</summary>
    /// <exception cref="CacheRequestException">The namespace is not a valid name.</exception>
    public CacheStatistics GetStatistics(string? ns = null)
    {
        if (string.IsNullOrEmpty(ns))
        {
            return _statistics.Total.Snapshot(_store.Count);
        }

        string name = RequestValidator.Namespace(ns);
        long entries = _store.CountInNamespace(name);
        return (_statistics.Find(name) ?? new Counters()).Snapshot(entries);
    }

    // ---------------------------------------------------------------- store notifications

    // The store's maintenance runs from its open on: removals reported while the index is being restored are held and
    // applied once it is (before that the namespace counts they would decrement do not exist yet).
    private void ApplyRemovalsHeldDuringRestore()
    {
        List<RemovedEntry> held;
        lock (_restoreLock)
        {
            held = _removedWhileRestoring ?? [];
            _removedWhileRestoring = null;
        }

        foreach (RemovedEntry entry in held)
        {
            _index.Remove(entry);
        }
    }

    /// <inheritdoc />
    void IEntryStoreObserver.OnEntriesRemoved(ReadOnlySpan<RemovedEntry> removed)
    {
        bool deferred = false;
        if (Volatile.Read(ref _removedWhileRestoring) is not null)
        {
            lock (_restoreLock)
            {
                if (_removedWhileRestoring is { } held)
                {
                    held.AddRange(removed);
                    deferred = true;
                }
            }
        }

        foreach (RemovedEntry entry in removed)
        {
            if (!deferred)
            {
                _index.Remove(entry);
            }

            if (entry.Reason is RemovalReason.Evicted or RemovalReason.Expired)
            {
                bool evicted = entry.Reason == RemovalReason.Evicted;
                foreach (Counters? c in (ReadOnlySpan<Counters?>)[_statistics.Total, _statistics.FindByHash(entry.NamespaceHash)])
                {
                    if (c is not null)
                    {
                        Interlocked.Increment(ref evicted ? ref c.Evictions : ref c.Expirations);
                    }
                }
            }
        }
    }

    /// <inheritdoc />
    void IEntryStoreObserver.OnCommitCompleted(TimeSpan elapsed) => _telemetry.Commit(elapsed);

    /// <inheritdoc />
    void IEntryStoreObserver.OnCheckpointCaptured(long sequence)
    {
        // Called with writes paused: only schedule the snapshot. It may differ from the checkpoint by the writes in
        // flight around it; recovery reconciles the two by id.
        if (Volatile.Read(ref _disposed) == 0)
        {
            _ = Task.Run(() => _persistence.TrySaveAsync(_index, sequence));
        }
    }

    /// <summary>Checkpoints the store and saves the index snapshot beside it (also done periodically and at shutdown).</summary>
    public async Task CheckpointAsync(CancellationToken cancellationToken = default)
    {
        long sequence = await _store.CheckpointAsync(cancellationToken).ConfigureAwait(false);
        await _persistence.SaveAsync(_index, sequence, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Graceful shutdown: the store's final checkpoint, then an index snapshot that matches it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _telemetry.Observe(null, null);
        if (_ownsTelemetry)
        {
            _telemetry.Dispose();
        }

        try
        {
            await _store.DisposeAsync().ConfigureAwait(false);
            await _persistence.TrySaveAsync(_index, _store.CheckpointSequence).ConfigureAwait(false);
            await _persistence.CloseAsync().ConfigureAwait(false);
        }
        finally
        {
            _index.Dispose();
            _persistence.Dispose();
        }
    }

    internal int TrackedNamespaceCount => _statistics.TrackedNamespaces;

    /// <summary>Diagnostics for the memory benchmark: what the store and the vector index hold, by part.</summary>
    internal (StoreMemory Store, IndexMemory Index) Memory()
    {
        IndexMemory index = default;
        foreach (KeyValuePair<int, PartitionedIndex> byDimension in _index.Indexes)
        {
            index += byDimension.Value.EstimateMemory();
        }

        return (Store.GetMemoryUsage(), index);
    }

    internal int IndexedPartitionCount => _index.PartitionCount;

    /// <summary>Test hook: runs the store's expiry sweep now.</summary>
    internal int SweepExpired() => _store.SweepExpired();

    /// <summary>Test hook: the store, for tests that crash it.</summary>
    internal EntryStore Store => ((FasterCacheStore)_store).Inner;

    /// <summary>Test hook: drops the engine as a killed process would (no final checkpoint, no index snapshot).</summary>
    internal void Abandon()
    {
        Interlocked.Exchange(ref _disposed, 1);
        _persistence.CloseAsync().GetAwaiter().GetResult();
        _index.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Cache recovered: {Entries} entries, {Vectors} vectors indexed ({IndexSource}) in {ElapsedMs:F0} ms")]
        public static partial void Recovered(ILogger logger, long entries, long vectors, string indexSource, double elapsedMs);

        [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Entry {Id} is stored but its vector could not be indexed; it is found by its exact prompt only")]
        public static partial void IndexAddFailed(ILogger logger, ulong id, Exception? exception);
    }
}

/// <summary>What the engine restored at start-up.</summary>
/// <param name="IndexSource">Where the index came from: <c>snapshot</c> (reconciled with the store), <c>new</c>, or <c>rebuilt (…why)</c>.</param>
/// <param name="IndexedVectors">Vectors in the index after recovery.</param>
/// <param name="ReplayedIntoIndex">Vectors the snapshot lacked, added from the store (all of them when rebuilt).</param>
/// <param name="Store">The store's own recovery report.</param>
public sealed record EngineRecovery(string IndexSource, long IndexedVectors, long ReplayedIntoIndex, RecoveryReport Store)
{
    /// <summary>Vectors the snapshot held that the store does not (removed at recovery).</summary>
    public long RemovedFromIndex { get; init; }
}
