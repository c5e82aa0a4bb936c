using BenchmarkDotNet.Attributes;
using SemCache.Cache;
using SemCache.Embedding;
using SemCache.Index;
using SemCache.Storage;

namespace SemCache.Benchmarks;

/// <summary>
/// The engine in process (no transport), over a namespace preloaded with <see cref="Entries"/> short prompts:
/// an exact hit; a semantic lookup with the caller's vector (search + store reads, no model); a semantic lookup of a
/// prompt (embedding + search + store reads); and the embedding alone, so that lookup minus embedding is visible.
/// </summary>
[MemoryDiagnoser]
public class EngineBenchmarks
{
    private const string Namespace = "bench";
    private TextEmbedder _embedder = null!;
    private SemanticCacheEngine _engine = null!;
    private string _directory = null!;
    private float[] _vector = null!;
    private long _calls;

    [Params(10_000)]
    public int Entries { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _embedder = TextEmbedder.Create();
        _directory = Path.Combine(Path.GetTempPath(), "semcache-engine-bench-" + Guid.NewGuid().ToString("N"));
        _engine = SemanticCacheEngine.OpenAsync(
            new CacheOptions(),
            new EntryStoreOptions { DataDirectory = _directory, Durability = DurabilityMode.Periodic },
            new VectorIndexOptions { Dimension = _embedder.Dimension },
            _embedder).GetAwaiter().GetResult();

        // Synthetic neighbours of real embeddings: the index sees realistic geometry without embedding 10,000 texts.
        var random = new Random(42);
        float[][] bases = Queries.Mixed.Select(q => _embedder.Embed(q).Vector).ToArray();
        var batch = new List<CacheSetRequest>(1000);
        for (int i = 0; i < Entries; i++)
        {
            float[] v = (float[])bases[i % bases.Length].Clone();
            for (int d = 0; d < v.Length; d++)
            {
                v[d] += (float)(random.NextDouble() - 0.5) * 0.05f;
            }

            batch.Add(new CacheSetRequest { Namespace = Namespace, Prompt = $"prompt {i}: {Queries.Mixed[i % Queries.Mixed.Length]}", Response = new string('r', 1024), Vector = v });
            if (batch.Count == 1000)
            {
                _engine.SetManyAsync(batch).GetAwaiter().GetResult();
                batch.Clear();
            }
        }

        _engine.SetAsync(new CacheSetRequest { Namespace = Namespace, Prompt = Queries.Short, Response = new string('r', 1024) }).GetAwaiter().GetResult();
        _vector = _embedder.Embed("How can I reset my password when I cannot reach my email?").Vector;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _embedder.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Description = "Get: exact hit")]
    public Task<CacheGetResult> ExactHit() => _engine.GetAsync(new CacheGetRequest { Namespace = Namespace, Prompt = Queries.Short });

    [Benchmark(Description = "Get: semantic, caller's vector (search + store)")]
    public Task<CacheGetResult> SemanticWithVector() => _engine.GetAsync(new CacheGetRequest { Namespace = Namespace, Vector = _vector });

    // A new prompt every call: the engine keeps recent prompts' embeddings, and a repeated prompt would skip the model.
    [Benchmark(Description = "Get: semantic, new prompt (embed + search + store)")]
    public Task<CacheGetResult> SemanticWithPrompt() => _engine.GetAsync(new CacheGetRequest { Namespace = Namespace, Prompt = "How can I reset my password when I cannot reach my email? #" + _calls++ });

    [Benchmark(Description = "embedding alone (EmbedAsync, same text length)")]
    public Task<EmbeddingResult> EmbedOnly() => _embedder.EmbedAsync("How can I reset my password when I cannot reach my email? #" + _calls++);
}
