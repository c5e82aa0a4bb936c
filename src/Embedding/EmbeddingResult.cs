namespace SemCache.Embedding;

/// <summary>The embedding of one text.</summary>
/// <param name="Vector">The sentence vector (unit length when normalisation is on).</param>
/// <param name="TokenCount">Word pieces the model saw, [CLS] and [SEP] included.</param>
/// <param name="Truncated">
/// The text was longer than the model's window and only its first <see cref="EmbeddingOptions.MaxTokens"/> word pieces
/// were embedded. Two texts that share that prefix get the same vector, so a cache must not treat such a vector as the
/// meaning of the whole text.
/// </param>
public readonly record struct EmbeddingResult(float[] Vector, int TokenCount, bool Truncated);
