using SemCache.Embedding;
using SemCache.Index;
using SemCache.Storage;

[assembly: AssemblyFixture(typeof(EmbedderFixture))]

// Some tests count model runs on the shared embedder, so tests must not embed concurrently.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace SemCache.Cache.Tests;

/// <summary>A real engine (embedder, index, FASTER store) over its own temporary data directory.</summary>
public sealed class TestCache : IAsyncDisposable
{
    private TestCache(string directory, SemanticCacheEngine engine, ManualClock clock)
    {
        Directory = directory;
        Engine = engine;
        Clock = clock;
    }

    public string Directory { get; }

    public SemanticCacheEngine Engine { get; private set; }

    public ManualClock Clock { get; }

    public Action<EntryStoreOptions>? ConfigureStore { get; private init; }

    public static async Task<TestCache> OpenAsync(TextEmbedder embedder, Action<CacheOptions>? configure = null, string? directory = null, ManualClock? clock = null, Action<EntryStoreOptions>? store = null)
    {
        directory ??= Path.Combine(Path.GetTempPath(), "semcache-cache-test-" + Guid.NewGuid().ToString("N"));
        clock ??= new ManualClock();
        SemanticCacheEngine engine = await Open(embedder, configure, directory, clock, store);
        return new TestCache(directory, engine, clock) { ConfigureStore = store };
    }

    private static Task<SemanticCacheEngine> Open(TextEmbedder embedder, Action<CacheOptions>? configure, string directory, ManualClock clock, Action<EntryStoreOptions>? configureStore)
    {
        var options = new CacheOptions();
        configure?.Invoke(options);
        var store = new EntryStoreOptions { DataDirectory = directory, Durability = DurabilityMode.Periodic, MemoryLogSizeBytes = 16L << 20, HashIndexSizeBytes = 1L << 20 };
        configureStore?.Invoke(store);
        return SemanticCacheEngine.OpenAsync(options, store, new VectorIndexOptions { Dimension = embedder.Dimension }, embedder, timeProvider: clock);
    }

    /// <summary>Graceful shutdown and start again on the same directory.</summary>
    public async Task RestartAsync(TextEmbedder embedder, Action<CacheOptions>? configure = null)
    {
        await Engine.DisposeAsync();
        Engine = await Open(embedder, configure, Directory, Clock, ConfigureStore);
    }

    /// <summary>A crash (the store's log committed, nothing else), then a start on the same directory.</summary>
    public async Task CrashAndRestartAsync(TextEmbedder embedder)
    {
        await Engine.Store.SimulateCrashAsync(commitLog: true);
        Engine.Abandon();
        Engine = await Open(embedder, null, Directory, Clock, ConfigureStore);
    }

    /// <summary>Stops the engine (graceful), runs <paramref name="tamper"/> on the data directory, and starts again.</summary>
    public async Task TamperAndRestartAsync(TextEmbedder embedder, Action<string> tamper)
    {
        await Engine.DisposeAsync();
        tamper(Directory);
        Engine = await Open(embedder, null, Directory, Clock, ConfigureStore);
    }

    public async ValueTask DisposeAsync()
    {
        await Engine.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
