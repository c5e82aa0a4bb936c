namespace SemCache.Embedding;

/// <summary>The embedding of one text.</summary>
/// <param name="Vector">The sentence vector (unit length when normalisation is on).</param>
/// <param name="TokenCount">Word pieces the model saw, [CLS] and [SEP] included.</param>
/// <param name="Truncated">
/// The text was longer than the model's window and only its first <see cref="EmbeddingOptions.MaxTokens"/> word pieces
/// were embedded. Two texts that share that prefix get the same vector, so a cache must not treat such a vector as the
/// meaning of the whole text.
/// </param>
public readonly record struct EmbeddingResult(float[] Vector, int TokenCount, bool Truncated)
{
    /// <summary>Time the text waited in the micro-batcher before its model call began (zero for a direct call).</summary>
    public TimeSpan QueueWait { get; init; }

    /// <summary>Duration of the model call that embedded the text (shared with the rest of its batch).</summary>
    public TimeSpan ModelTime { get; init; }

    /// <summary>Texts in that model call.</summary>
    public int BatchSize { get; init; }
}

/// <summary>Which queue of the micro-batcher a text joins.</summary>
public enum EmbeddingPriority
{
    /// <summary>A request someone is waiting on (a Get, a Set, one text): goes first.</summary>
    Interactive,

    /// <summary>Part of a bulk load (SetMany, many texts at once): fills the room interactive requests leave in each batch.</summary>
    Bulk,
}
