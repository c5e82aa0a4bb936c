using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using SemCache.Cache.Store;
using SemCache.Index;
using SemCache.Storage;

namespace SemCache.Cache.Indexing;

/// <summary>
/// Saves the semantic index beside the store's checkpoints and restores it at start-up so that it agrees with the
/// store exactly: every live entry with a vector is searchable, nothing else is.
/// </summary>
/// <remarks>
/// <para>Files, in <c>&lt;data directory&gt;/index/</c>: <c>d&lt;dimension&gt;.snapshot</c> per vector dimension (see
/// <see cref="PartitionedIndex.Save"/>) and <c>manifest.json</c> (<c>{"sequence": n, "dimensions": [384, …]}</c>, the
/// store checkpoint it was taken at and the files it consists of), each written to a temporary file, flushed and
/// renamed.</para>
/// <para>A snapshot is only a head start: it is taken a moment after a checkpoint while writes go on, so it may lack
/// entries the checkpoint holds (a Set stored before the checkpoint, indexed after the snapshot) and hold entries the
/// store lost (a crash before the log commit). Entry ids are never reused and an entry's vector and partition never
/// change, so recovery reconciles by id: whatever the snapshot holds that the store does not is removed, whatever the
/// store holds that the snapshot lacks is read from the store and added. A missing, damaged or unreadable snapshot
/// only costs a rebuild from the stored vectors; nothing is ever re-embedded.</para>
/// </remarks>
internal sealed partial class IndexPersistence(string directory, string? rescoreStorageDirectory, ILogger logger) : IDisposable
{
    private const string ManifestName = "manifest.json";
    private const int ScanAbove = 4096;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile bool _closed;

    /// <summary>Writes every dimension's snapshot, then the manifest naming them.</summary>
    public async Task SaveAsync(SemanticIndex index, long sequence, CancellationToken cancellationToken = default)
    {
        if (_closed)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_closed)
            {
                return; // a background save that came after the final one: the index may be gone
            }

            Directory.CreateDirectory(directory);
            var dimensions = new List<int>();
            foreach ((int dimension, PartitionedIndex partitioned) in index.Indexes)
            {
                partitioned.Save(Path.Combine(directory, SnapshotName(dimension)));
                dimensions.Add(dimension);
            }

            dimensions.Sort();
            string manifest = Path.Combine(directory, ManifestName);
            string temp = manifest + ".tmp";
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                using (var writer = new Utf8JsonWriter(stream))
                {
                    writer.WriteStartObject();
                    writer.WriteNumber("sequence", sequence);
                    writer.WriteStartArray("dimensions");
                    foreach (int dimension in dimensions)
                    {
                        writer.WriteNumberValue(dimension);
                    }

                    writer.WriteEndArray();
                    writer.WriteEndObject();
                }

                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, manifest, overwrite: true);
            foreach (string file in Directory.EnumerateFiles(directory, "d*.snapshot"))
            {
                if (!dimensions.Any(d => string.Equals(Path.GetFileName(file), SnapshotName(d), StringComparison.Ordinal)))
                {
                    File.Delete(file);
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Saves, logging instead of throwing: a failed snapshot costs a longer start, never the server.</summary>
    public async Task TrySaveAsync(SemanticIndex index, long sequence)
    {
        try
        {
            await SaveAsync(index, sequence).ConfigureAwait(false);
        }
        catch (ObjectDisposedException) when (_closed)
        {
            // Closed while this background save waited: the final save has been made.
        }
#pragma warning disable CA1031 // See above.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.SnapshotFailed(logger, e);
        }
    }

    /// <summary>Loads the snapshot if it is usable, then reconciles it with the store's live entries.</summary>
    public async Task<EngineRecovery> RestoreAsync(SemanticIndex index, ICacheEntryStore store, CancellationToken cancellationToken)
    {
        RecoveryReport report = store.Recovery;
        string source;
        if (report.CreatedNew)
        {
            source = "new";
            index.Clear();
        }
        else if (TryLoad(out Dictionary<int, PartitionedIndex>? loaded, out string? why))
        {
            source = "snapshot";
            index.Replace(loaded);
        }
        else
        {
            source = "rebuilt (" + why + ")";
            Log.SnapshotUnusable(logger, why);
            index.Clear();
        }

        // Every live entry, from the store's in-memory directory.
        var live = new Dictionary<ulong, StoredEntryInfo>();
        foreach (StoredEntryInfo entry in store.EnumerateLive())
        {
            live[entry.Id] = entry;
        }

        // What the index holds that the store does not (or not there) goes; what it already holds is kept.
        long removed = 0;
        var indexed = new HashSet<ulong>();
        foreach ((int dimension, PartitionedIndex partitioned) in index.Indexes)
        {
            var stale = new List<(PartitionKey Partition, long Id)>();
            foreach (PartitionKey partition in partitioned.PartitionKeys.ToArray())
            {
                foreach (long indexedId in partitioned.EnumerateIds(partition))
                {
                    ulong id = (ulong)indexedId;
                    if (live.TryGetValue(id, out StoredEntryInfo entry) && entry.VectorDimension == dimension && new PartitionKey(entry.Partition) == partition)
                    {
                        indexed.Add(id);
                    }
                    else
                    {
                        stale.Add((partition, indexedId));
                    }
                }
            }

            foreach ((PartitionKey partition, long id) in stale)
            {
                removed += partitioned.Remove(partition, id) ? 1 : 0;
            }
        }

        // What the store holds that the index lacks is read from the store (its vector) and added: a few by id (the Sets
        // around a checkpoint), many by one sequential scan of the records (a rebuild), which is far faster than as many
        // random reads.
        long added = 0;
        var missing = new List<StoredEntryInfo>();
        foreach (StoredEntryInfo entry in live.Values)
        {
            if (entry.VectorDimension > 0 && !indexed.Contains(entry.Id))
            {
                missing.Add(entry);
            }
        }

        if (missing.Count > ScanAbove)
        {
            var wanted = new HashSet<ulong>(missing.Select(static m => m.Id));
            foreach (LiveEntry entry in store.EnumerateLiveVectors())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (wanted.Remove(entry.Id) && live.TryGetValue(entry.Id, out StoredEntryInfo info) && entry.Vector.Length == info.VectorDimension && TryAdd(index, info, entry.Vector.Span))
                {
                    indexed.Add(entry.Id);
                    added++;
                }
            }
        }
        else
        {
            foreach (StoredEntryInfo entry in missing)
            {
                CacheEntry? stored = await store.GetByIdAsync(entry.Id, includeVector: true, cancellationToken).ConfigureAwait(false);
                if (stored is not null && stored.Vector.Length == entry.VectorDimension && TryAdd(index, entry, stored.Vector.Span))
                {
                    indexed.Add(entry.Id);
                    added++;
                }
            }
        }

        // Each namespace's dimension and count are those of its indexed vectors (what removals will later decrement).
        // Entries of one namespace with two dimensions can only come from a store written before dimensions were checked
        // atomically: the most common one is kept.
        var namespaces = new Dictionary<ulong, Dictionary<int, long>>();
        foreach (ulong id in indexed)
        {
            StoredEntryInfo entry = live[id];
            Dictionary<int, long> byDimension = namespaces.TryGetValue(entry.NamespaceHash, out Dictionary<int, long>? d) ? d : namespaces[entry.NamespaceHash] = [];
            byDimension[entry.VectorDimension] = byDimension.GetValueOrDefault(entry.VectorDimension) + 1;
        }

        var dimensions = new List<KeyValuePair<ulong, NamespaceVectors>>(namespaces.Count);
        foreach ((ulong hash, Dictionary<int, long> byDimension) in namespaces)
        {
            KeyValuePair<int, long> main = byDimension.MaxBy(static p => p.Value);
            if (byDimension.Count > 1)
            {
                Log.MixedDimensions(logger, hash.ToString("x16", CultureInfo.InvariantCulture), string.Join(", ", byDimension.Select(p => $"{p.Value} of {p.Key}")), main.Key);
            }

            dimensions.Add(new(hash, new NamespaceVectors(main.Key) { Count = byDimension.Values.Sum() }));
        }

        index.ResetNamespaces(dimensions);
        if (source == "snapshot" && (added > 0 || removed > 0))
        {
            Log.Reconciled(logger, added, removed);
        }

        return new EngineRecovery(source, index.Count, added, report) { RemovedFromIndex = removed };
    }

    // A vector the index refuses (one stored before the validator knew the index's rules) costs that entry its semantic
    // match, never the start-up.
    private bool TryAdd(SemanticIndex index, in StoredEntryInfo entry, ReadOnlySpan<float> vector)
    {
        try
        {
            return index.IndexFor(entry.VectorDimension).TryAdd(new PartitionKey(entry.Partition), (long)entry.Id, vector);
        }
        catch (ArgumentException e)
        {
            Log.VectorRefused(logger, entry.Id, e.Message);
            return false;
        }
    }

    private bool TryLoad([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Dictionary<int, PartitionedIndex>? loaded, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? why)
    {
        loaded = null;
        string manifestPath = Path.Combine(directory, ManifestName);
        if (!File.Exists(manifestPath))
        {
            why = "no index snapshot";
            return false;
        }

        int[] dimensions;
        try
        {
            dimensions = ReadManifest(File.ReadAllBytes(manifestPath));
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or IOException or UnauthorizedAccessException)
        {
            why = $"damaged index manifest '{manifestPath}': {e.Message}";
            return false;
        }

        var result = new Dictionary<int, PartitionedIndex>();
        try
        {
            foreach (int dimension in dimensions.Distinct())
            {
                PartitionedIndex index = PartitionedIndex.Load(Path.Combine(directory, SnapshotName(dimension)), rescoreStorageDirectory);
                result[dimension] = index;
                if (index.Options.Dimension != dimension)
                {
                    throw new InvalidDataException($"{SnapshotName(dimension)} holds {index.Options.Dimension}-dimensional vectors.");
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            foreach (PartitionedIndex index in result.Values)
            {
                index.Dispose();
            }

            why = "index snapshot unusable: " + e.Message;
            return false;
        }

        loaded = result;
        why = null;
        return true;
    }

    // Strict: exactly the two properties, of the right types; anything else is a damaged manifest, never a half-read one.
    private static int[] ReadManifest(byte[] json)
    {
        using JsonDocument document = JsonDocument.Parse(json);
        JsonElement root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException("the manifest is not a JSON object.");
        }

        int[]? dimensions = null;
        bool sequence = false;
        foreach (JsonProperty property in root.EnumerateObject())
        {
            switch (property.Name)
            {
                case "sequence" when property.Value.ValueKind == JsonValueKind.Number && property.Value.TryGetInt64(out _):
                    sequence = true;
                    break;
                case "dimensions" when property.Value.ValueKind == JsonValueKind.Array:
                    dimensions = [.. property.Value.EnumerateArray().Select(static d => d.ValueKind == JsonValueKind.Number && d.TryGetInt32(out int v) && v > 0 ? v : throw new InvalidDataException($"'{d}' is not a vector dimension."))];
                    break;
                default:
                    throw new InvalidDataException($"unexpected property '{property.Name}'.");
            }
        }

        return sequence && dimensions is not null ? dimensions : throw new InvalidDataException("'sequence' or 'dimensions' is missing.");
    }

    /// <summary>After the final save: waits for a save in progress; later (background) saves do nothing.</summary>
    public async Task CloseAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        _closed = true;
        _gate.Release();
    }

    public void Dispose()
    {
        _closed = true;
        _gate.Dispose();
    }

    private static string SnapshotName(int dimension) => "d" + dimension.ToString(CultureInfo.InvariantCulture) + ".snapshot";

    private static partial class Log
    {
        [LoggerMessage(EventId = 20, Level = LogLevel.Warning, Message = "Index snapshot failed; the next start rebuilds the missing part from the store")]
        public static partial void SnapshotFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 21, Level = LogLevel.Warning, Message = "Index snapshot not used ({Reason}); rebuilding the index from the stored vectors")]
        public static partial void SnapshotUnusable(ILogger logger, string reason);

        [LoggerMessage(EventId = 22, Level = LogLevel.Information, Message = "Index snapshot reconciled with the store: {Added} vectors added from the store, {Removed} removed")]
        public static partial void Reconciled(ILogger logger, long added, long removed);

        [LoggerMessage(EventId = 24, Level = LogLevel.Warning, Message = "Entry {Id}'s stored vector is refused by the index ({Reason}); it is found by its exact prompt only")]
        public static partial void VectorRefused(ILogger logger, ulong id, string reason);

        [LoggerMessage(EventId = 23, Level = LogLevel.Warning, Message = "Namespace {NamespaceHash} holds vectors of several dimensions ({Counts}); it keeps {Dimension}")]
        public static partial void MixedDimensions(ILogger logger, string namespaceHash, string counts, int dimension);
    }
}
