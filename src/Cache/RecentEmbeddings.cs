using System.Collections.Concurrent;
using SemCache.Embedding;

namespace SemCache.Cache;

/// <summary>
/// The embeddings of the last few thousand prompts looked up, so that the Set which follows a missed Get (the app
/// called the model and now stores its answer) does not run the model again for the same prompt. Two generations
/// of a concurrent dictionary: when the young one fills, it becomes the old one and the old one is dropped, so memory
/// stays bounded without a lock or an LRU list.
/// </summary>
internal sealed class RecentEmbeddings(int capacity)
{
    private readonly int _generationSize = Math.Max(1, capacity / 2);
    private ConcurrentDictionary<string, EmbeddingResult> _young = new(StringComparer.Ordinal);
    private ConcurrentDictionary<string, EmbeddingResult> _old = new(StringComparer.Ordinal);

    public bool TryGet(string normalizedPrompt, out EmbeddingResult embedding) =>
        Volatile.Read(ref _young).TryGetValue(normalizedPrompt, out embedding) || Volatile.Read(ref _old).TryGetValue(normalizedPrompt, out embedding);

    public void Add(string normalizedPrompt, EmbeddingResult embedding)
    {
        ConcurrentDictionary<string, EmbeddingResult> young = Volatile.Read(ref _young);
        young[normalizedPrompt] = embedding;
        if (young.Count >= _generationSize && Interlocked.CompareExchange(ref _young, new(StringComparer.Ordinal), young) == young)
        {
            Volatile.Write(ref _old, young);
        }
    }
}
