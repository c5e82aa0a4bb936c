using System.Collections.Concurrent;
using SemCache.Embedding;

namespace SemCache.Cache;

/// <summary>
/// The embeddings of the last few thousand prompts looked up, so that the Set which follows a missed Get (the app
/// called the model and now stores its answer) does not run the model again for the same prompt. Keyed by namespace
/// and prompt: a tenant's lookup never finds another tenant's recent prompt, so how fast a miss answers says nothing
/// about what others asked. Two generations of a concurrent dictionary: when the young one fills, it becomes the old
/// one and the old one is dropped, so memory stays bounded without a lock or an LRU list.
/// </summary>
internal sealed class RecentEmbeddings(int capacity)
{
    // Longer prompts are not kept: a few thousand keys of up to Cache:MaxPromptChars each could hold a gigabyte. The
    // model's window is 256 word pieces, so a prompt past this length is rarely one that a Set repeats verbatim anyway.
    private const int MaxPromptChars = 4096;
    private readonly int _generationSize = Math.Max(1, capacity / 2);
    private ConcurrentDictionary<(string Namespace, string Prompt), EmbeddingResult> _young = new();
    private ConcurrentDictionary<(string Namespace, string Prompt), EmbeddingResult> _old = new();

    public bool TryGet(string ns, string normalizedPrompt, out EmbeddingResult embedding) =>
        Volatile.Read(ref _young).TryGetValue((ns, normalizedPrompt), out embedding) || Volatile.Read(ref _old).TryGetValue((ns, normalizedPrompt), out embedding);

    public void Add(string ns, string normalizedPrompt, EmbeddingResult embedding)
    {
        if (normalizedPrompt.Length > MaxPromptChars)
        {
            return;
        }

        ConcurrentDictionary<(string, string), EmbeddingResult> young = Volatile.Read(ref _young);
        young[(ns, normalizedPrompt)] = embedding;
        if (young.Count >= _generationSize && Interlocked.CompareExchange(ref _young, new(), young) == young)
        {
            Volatile.Write(ref _old, young);
        }
    }
}
