using Xunit;
using System.Collections.Concurrent;
using System.Text;

namespace SemCache.Storage.Tests;

/// <summary>A temporary data directory, deleted (with anything moved aside next to it) on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "semcache-storage-" + Guid.NewGuid().ToString("N"));
    }

    public string Path { get; }

    public void Dispose()
    {
        var parent = System.IO.Path.GetDirectoryName(Path)!;
        foreach (var dir in Directory.EnumerateDirectories(parent, System.IO.Path.GetFileName(Path) + "*"))
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>Records what the store reports.</summary>
internal sealed class RecordingObserver : IEntryStoreObserver
{
    public ConcurrentQueue<RemovedEntry> Removed { get; } = new();

    public ConcurrentQueue<long> Checkpoints { get; } = new();

    /// <summary>Size of each notification, in order.</summary>
    public ConcurrentQueue<int> Batches { get; } = new();

    public void OnEntriesRemoved(ReadOnlySpan<RemovedEntry> removed)
    {
        Batches.Enqueue(removed.Length);
        foreach (var r in removed)
        {
            Removed.Enqueue(r);
        }
    }

    public void OnCheckpointCaptured(long sequence) => Checkpoints.Enqueue(sequence);
}

internal static class Entries
{
    public static EntryStoreOptions Options(string directory, DurabilityMode durability = DurabilityMode.Periodic) => new()
    {
        DataDirectory = directory,
        Durability = durability,
        // Small budgets keep the tests light and push data to disk early.
        HashIndexSizeBytes = 1 << 20,
        MemoryLogSizeBytes = 1 << 20,
        PageSizeBytes = 1 << 16,
        MaxEntryBytes = 16 << 10,
        CheckpointInterval = TimeSpan.Zero,
        SweepInterval = TimeSpan.Zero,
    };

    public static ExactKey Key(string text, ulong partition = 1) => new(partition, Encoding.UTF8.GetBytes(text));

    public static CacheEntry Make(string prompt, string? response = null, string ns = "tenant", int dimension = 4) => new()
    {
        Namespace = ns,
        Attributes = [new("lang", "en"), new("model", "gpt")],
        ContextFingerprint = Enumerable.Range(0, 16).Select(i => (byte)(i + prompt.Length)).ToArray(),
        Prompt = prompt,
        Response = response ?? "answer to " + prompt,
        Usage = new TokenUsage("gpt-test", prompt.Length, 42),
        Vector = Enumerable.Range(0, dimension).Select(i => (float)(i + prompt.Length) / 10f).ToArray(),
    };
}
