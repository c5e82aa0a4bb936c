using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using SemCache.Cache;
using SemCache.Embedding;
using SemCache.Index;
using SemCache.Proxy;
using SemCache.Storage;

namespace SemCache.CacheServer.Configuration;

/// <summary>One option as <c>--help</c> and the README show it.</summary>
/// <param name="Key">The configuration key, <c>Section:Name</c>.</param>
/// <param name="Flag">Its short command-line flag, or null (every key is also <c>--Section:Name value</c>).</param>
/// <param name="Default">The default, as text (read from the options class, or said in words where it is derived).</param>
/// <param name="Meaning">What it does, in one or two sentences.</param>
public sealed record OptionInfo(string Key, string? Flag, string Default, string Meaning);

/// <summary>
/// Every option the server reads, declared once: its meaning and short flag here, its default where the options class
/// sets it (read by reflection, so the two cannot disagree). <c>--help</c> prints it and the README's configuration
/// table is generated from it (a test compares them); a test also checks that every settable property of every options
/// section has an entry here, and nothing else does.
/// </summary>
public static class OptionCatalog
{
    /// <summary>The option sections in the order they are shown, with the class each binds to.</summary>
    internal static readonly (string Section, Type Type)[] Sections =
    [
        (ServerOptions.SectionName, typeof(ServerOptions)),
        (CacheOptions.SectionName, typeof(CacheOptions)),
        (StorageOptionsValidator.SectionName, typeof(EntryStoreOptions)),
        (IndexOptionsValidator.SectionName, typeof(VectorIndexOptions)),
        (EmbeddingOptions.SectionName, typeof(EmbeddingOptions)),
        (Telemetry.ObservabilityOptions.SectionName, typeof(Telemetry.ObservabilityOptions)),
        (ProxyOptions.SectionName, typeof(ProxyOptions)),
        (ProxyOptions.SectionName + ":" + nameof(ProxyOptions.OpenAI), typeof(UpstreamOptions)),
        (ProxyOptions.SectionName + ":" + nameof(ProxyOptions.Anthropic), typeof(UpstreamOptions)),
    ];

    // The defaults of a section: a new options object, or for a nested section its parent's default child (whose
    // defaults differ per child: each provider has its own address).
    private static object Defaults(string section, Type type) => section switch
    {
        "Proxy:OpenAI" => new ProxyOptions().OpenAI,
        "Proxy:Anthropic" => new ProxyOptions().Anthropic,
        _ => Activator.CreateInstance(type)!,
    };

    // Key, flag, default in words where the class's value would mislead (null: read it), meaning.
    private static readonly (string Key, string? Flag, string? Default, string Meaning)[] Declared =
    [
        ("Server:Host", "--host", null, "Address to listen on (`0.0.0.0` to serve other hosts)."),
        ("Server:Port", "--port", null, "gRPC port (HTTP/2 cleartext)."),
        ("Server:HttpPort", "--http-port", null, "HTTP/1.1 port: JSON API, `/healthz`, `/readyz`, `/metrics`; `0` turns it off."),
        ("Server:MaxRequestBytes", null, null, "Largest gRPC message or HTTP/JSON body (larger: `RESOURCE_EXHAUSTED` / 413)."),
        ("Server:MaxEmbedTexts", null, null, "Most texts in one `Embed` call."),
        ("Server:MaxTextChars", null, null, "Longest text `Embed` accepts, in characters."),
        ("Cache:DefaultThreshold", "--default-threshold", null, "Similarity a semantic hit needs when a Get does not say (see docs/benchmarks.md for its precision)."),
        ("Cache:MaxTopK", null, null, "Most matches one Get may ask for."),
        ("Cache:MaxPromptChars", null, null, "Longest prompt (or matched message), in characters."),
        ("Cache:MaxResponseChars", null, null, "Longest response, in characters."),
        ("Cache:MaxAttributes", null, null, "Most attributes per request."),
        ("Cache:MaxAttributeKeyChars", null, null, "Longest attribute key."),
        ("Cache:MaxAttributeValueChars", null, null, "Longest attribute value."),
        ("Cache:MaxMessages", null, null, "Most messages per request."),
        ("Cache:MaxConversationChars", null, null, "Most characters in all of a request's messages together."),
        ("Cache:MaxVectorDimension", null, null, "Largest caller vector."),
        ("Cache:MaxSetManyEntries", null, null, "Most entries in one SetMany."),
        ("Cache:SemanticMatchOnTruncatedPrompts", null, null, "Let prompts longer than the model's window match on their truncated embedding."),
        ("Cache:ModelPrices", null, "list prices of common OpenAI, Anthropic and Google models (appsettings.json)", "`Cache:ModelPrices:<model>:InputPerMillion` / `OutputPerMillion`: US dollars per million tokens, for `cost_saved_usd`; entries add to or override the shipped table. Tokens of models without a price count as `unpriced_tokens`."),
        ("Cache:ModelPricesAsOf", null, "the shipped table's date", "When the prices were taken (reported in `semcache_build_info`); set it with your own prices."),
        ("Storage:DataDirectory", "--data-dir", "`./data`", "Where the store, its checkpoints and the index snapshots live; relative to the working directory (under `dotnet run`, `src/CacheServer/data`)."),
        ("Storage:Durability", "--durability", null, "`Strict`, `Periodic` or `None`: what a crash can lose (see Durability)."),
        ("Storage:CommitInterval", null, null, "Periodic mode's commit interval: what a crash can lose."),
        ("Storage:CheckpointInterval", null, null, "How often store and index are checkpointed (also at shutdown)."),
        ("Storage:HashIndexSizeBytes", null, null, "FASTER's hash index (power of two, fixed at open)."),
        ("Storage:MemoryLogSizeBytes", null, null, "FASTER's in-memory log; older records spill to disk and stay readable."),
        ("Storage:PageSizeBytes", null, null, "One log page (power of two, 4 KiB to 64 MiB); no record can be larger."),
        ("Storage:MaxEntryBytes", null, null, "Largest stored entry (prompt, response, vector, attributes)."),
        ("Storage:MaxEntries", null, null, "Capacity in entries (0: unlimited); past it entries are evicted."),
        ("Storage:MaxBytes", null, null, "Capacity in bytes of entries (0: unlimited)."),
        ("Storage:Eviction", null, null, "`LeastRecentlyHit` or `Oldest`."),
        ("Storage:EvictionSampleSize", null, null, "Entries sampled to choose each eviction victim (1 to 1024)."),
        ("Storage:DefaultTtl", null, null, "TTL of a Set without `ttl_seconds`."),
        ("Storage:MaxTtl", null, null, "Largest `ttl_seconds` accepted (larger: `INVALID_ARGUMENT`)."),
        ("Storage:SlidingExpiration", null, null, "A hit extends the entry's TTL."),
        ("Storage:SweepInterval", null, null, "How often expired entries are removed (they are never returned either way)."),
        ("Storage:LogCompactionRatio", null, null, "Compact the log file once it is this many times the live bytes (at least 64 MiB); 0 turns compaction off."),
        ("Storage:OnUnrecoverableData", null, null, "`Fail` with a clear error, or `MoveAsideAndStartEmpty`, when no checkpoint can be recovered."),
        ("Index:M", null, null, "HNSW links per node (2·M at the bottom layer)."),
        ("Index:EfConstruction", null, null, "HNSW candidate list while inserting."),
        ("Index:EfSearch", null, null, "HNSW candidate list while searching."),
        ("Index:FlatScanThreshold", null, null, "Partitions below this size are scanned exactly; at it they become HNSW graphs."),
        ("Index:Quantization", null, null, "`None` (float32) or `Int8` (int8 traversal, float rescoring; saves memory only with `RescoreStorageDirectory`)."),
        ("Index:InitialCapacity", null, null, "Vectors a new graph reserves room for (0: grows in blocks as vectors arrive)."),
        ("Index:RescoreStorageDirectory", null, "none", "With `Int8`: keep the float rows for rescoring in memory-mapped files there instead of on the heap."),
        ("Index:RandomSeed", null, null, "Seed of HNSW's level draws (the same inserts in the same order give the same graph)."),
        ("Embedding:ModelPath", "--model", "bundled model", "A BERT-family ONNX model (see The model)."),
        ("Embedding:VocabPath", "--vocab", "bundled vocabulary", "Its WordPiece `vocab.txt`; set with `ModelPath`."),
        ("Embedding:ModelName", null, "model folder's name", "Name reported to clients."),
        ("Embedding:Pooling", null, null, "`Mean` (sentence-transformers) or `Cls` (bge and others)."),
        ("Embedding:Normalize", null, null, "L2-normalise vectors (cosine = dot product)."),
        ("Embedding:LowerCase", null, null, "Lower-case and strip accents (uncased models)."),
        ("Embedding:MaxTokens", null, null, "The model's window in word pieces; longer texts are truncated and flagged."),
        ("Embedding:IntraOpThreads", null, "`0` (one per core)", "ONNX Runtime threads per model call."),
        ("Embedding:IntraOpSpinning", null, null, "Whether ONNX Runtime's threads spin between model calls (`session.intra_op.allow_spinning`) rather than sleep."),
        ("Embedding:BatchWindow", null, null, "How long the micro-batcher holds a batch open for concurrent callers; a lone caller never waits."),
        ("Embedding:MaxBatchTokens", null, null, "Padded tokens per model call (batch size × longest text)."),
        ("Embedding:MaxBatchSize", null, null, "Texts per model call."),
        ("Embedding:Precision", null, null, "`Float32`, or `Int8`: the MatMuls with 8-bit weights (see The model); with a custom `ModelPath` the rewrite is done at load."),
        ("Embedding:ExecutionProvider", "--execution-provider", null, "`Cpu`, or `Cuda` with the GPU build."),
        ("Embedding:CudaDeviceId", null, null, "CUDA device for `Cuda`."),
        ("Observability:MaxNamespaceLabels", null, null, "Namespaces that keep their own `namespace` label in metrics (the first written since start); later ones are `other`. Also bounds the `model` label of unpriced models."),
        ("Proxy:Enabled", null, null, "Serve the caching proxy on the HTTP port: `/v1/chat/completions` (OpenAI), `/v1/messages` (Anthropic), other `/v1/` calls forwarded (see The caching proxy)."),
        ("Proxy:Namespace", null, "`default`", "Namespace of the proxy's entries when a request has no `x-semcache-namespace` header."),
        ("Proxy:ShareAcrossCredentials", null, null, "Let callers with different API keys share answers (one-tenant deployments); by default entries are partitioned by a hash of the caller's credential headers."),
        ("Proxy:SingleFlightTimeout", null, null, "How long a request waits for an identical request's provider call in flight before calling the provider itself; `0` turns single flight off."),
        ("Proxy:ConnectTimeout", null, null, "How long opening a connection to a provider may take."),
        ("Proxy:OpenAI:BaseUrl", "--openai-base-url", null, "The OpenAI-compatible provider, up to its version segment (`/v1/<path>` goes to `BaseUrl/<path>`): OpenAI, Azure OpenAI's v1 API, vLLM, Ollama, …"),
        ("Proxy:OpenAI:Timeout", null, null, "The longest an OpenAI call may take, streamed or not (then 504, or a cut stream that is not stored)."),
        ("Proxy:Anthropic:BaseUrl", "--anthropic-base-url", null, "The Anthropic provider, up to its version segment."),
        ("Proxy:Anthropic:Timeout", null, null, "The longest an Anthropic call may take, streamed or not."),
        ("Observability:OtlpEndpoint", null, "none (`OTEL_EXPORTER_OTLP_ENDPOINT`)", "The OTLP collector's base address to push metrics and traces to (`http://collector:4317`; `:4318` with `OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`, the signals' paths are added); without it (or the standard variable) spans are not recorded. `/metrics` is served either way."),
    ];

    /// <summary>Every option, in the order shown.</summary>
    public static IReadOnlyList<OptionInfo> All { get; } = Build();

    /// <summary>Short flags and the configuration keys they set.</summary>
    public static IReadOnlyDictionary<string, string> Flags { get; } =
        All.Where(o => o.Flag is not null).ToDictionary(o => o.Flag!, o => o.Key, StringComparer.Ordinal);

    /// <summary>The settable properties of an options class: what configuration can set in its section.</summary>
    internal static Dictionary<string, PropertyInfo> Properties(Type type)
    {
        var options = new Dictionary<string, PropertyInfo>(StringComparer.OrdinalIgnoreCase);
        foreach (PropertyInfo property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            bool settable = property.SetMethod is { IsPublic: true };
            bool collection = typeof(IDictionary).IsAssignableFrom(property.PropertyType);
            // The index's dimension comes from the model or the namespace's vectors, never from configuration.
            bool derived = type == typeof(VectorIndexOptions) && property.Name == nameof(VectorIndexOptions.Dimension);
            // A property holding another options object is a nested section of its own (Proxy:OpenAI), not a value.
            derived |= property.PropertyType == typeof(UpstreamOptions);
            if ((settable || collection) && !derived && property.GetIndexParameters().Length == 0)
            {
                options[property.Name] = property;
            }
        }

        return options;
    }

    /// <summary>The text of <c>semcache-server --help</c>.</summary>
    public static string HelpText()
    {
        var text = new StringBuilder(8192);
        text.Append("semcache-server ").Append(VersionText()).Append(
            """

            A semantic cache for LLM applications: gRPC and HTTP/JSON in front of an embedding model, an HNSW index and a durable store.

            Usage: semcache-server [flags] [--Section:Key value ...]

              -h, --help       show this help and exit
                  --version    show the version and exit
                  --verbose    print the stack trace of a start-up failure after its one line

            Every option below can be set in appsettings.json (beside the server), in an environment variable
            (SEMCACHE_Section__Key, e.g. SEMCACHE_Server__Port=6000) or on the command line (--Section:Key value, or the
            short flag shown); later sources win. Exit codes: 0 stopped cleanly, 1 could not start (one line on stderr
            says why), 2 the command line is wrong.

            Options (default in brackets):

            """);
        foreach (OptionInfo option in All)
        {
            text.Append("  ").Append(option.Flag is null ? "" : option.Flag + ", ").Append("--").Append(option.Key)
                .Append("  [").Append(option.Default.Replace("`", "", StringComparison.Ordinal)).Append("]\n");
            foreach (string line in Wrap(option.Meaning.Replace("`", "", StringComparison.Ordinal), 100))
            {
                text.Append("        ").Append(line).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>The README's configuration table (Markdown), generated from the same declarations as <c>--help</c>.</summary>
    public static string MarkdownTable()
    {
        var text = new StringBuilder(8192);
        text.Append("| Key | Flag | Default | Meaning |\n| --- | --- | --- | --- |\n");
        foreach (OptionInfo option in All)
        {
            text.Append("| `").Append(option.Key).Append("` | ").Append(option.Flag is null ? "" : $"`{option.Flag}`")
                .Append(" | ").Append(option.Default).Append(" | ").Append(option.Meaning).Append(" |\n");
        }

        return text.ToString();
    }

    /// <summary>The server's version: the assembly's informational version (with the commit it was built from).</summary>
    public static string VersionText() =>
        typeof(OptionCatalog).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(OptionCatalog).Assembly.GetName().Version?.ToString() ?? "unknown";

    private static List<OptionInfo> Build()
    {
        var defaults = new Dictionary<string, (object Instance, Dictionary<string, PropertyInfo> Properties)>(StringComparer.Ordinal);
        foreach ((string section, Type type) in Sections)
        {
            // VectorIndexOptions' Dimension is required at compile time only; reflection builds it with its defaults.
            defaults[section] = (Defaults(section, type), Properties(type));
        }

        var all = new List<OptionInfo>(Declared.Length);
        foreach ((string key, string? flag, string? declaredDefault, string meaning) in Declared)
        {
            int colon = key.LastIndexOf(':');
            (object instance, Dictionary<string, PropertyInfo> properties) = defaults[key[..colon]];
            if (!properties.TryGetValue(key[(colon + 1)..], out PropertyInfo? property))
            {
                throw new InvalidOperationException($"OptionCatalog declares {key}, which no options class has.");
            }

            all.Add(new OptionInfo(key, flag, declaredDefault ?? Format(property.GetValue(instance)), meaning));
        }

        return all;
    }

    private static string Format(object? value) => value switch
    {
        null or "" => "none",
        bool b => b ? "`true`" : "`false`",
        TimeSpan t => $"`{FormatTimeSpan(t)}`",
        IFormattable f => $"`{f.ToString(null, CultureInfo.InvariantCulture)}`",
        _ => $"`{value}`",
    };

    // [d.]hh:mm:ss with as many fraction digits as the value needs: 00:00:00.1, 00:00:00.0003, 1.00:00:00.
    private static string FormatTimeSpan(TimeSpan t)
    {
        string text = t.ToString("c", CultureInfo.InvariantCulture);
        int dot = text.LastIndexOf('.');
        return dot > text.LastIndexOf(':') ? text.TrimEnd('0') : text;
    }

    private static IEnumerable<string> Wrap(string text, int width)
    {
        var line = new StringBuilder(width);
        foreach (string word in text.Split(' '))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear();
            }

            line.Append(line.Length > 0 ? " " : "").Append(word);
        }

        if (line.Length > 0)
        {
            yield return line.ToString();
        }
    }
}
