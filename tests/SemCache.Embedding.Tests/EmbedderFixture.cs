using SemCache.Embedding;
using SemCache.Embedding.Tests;

[assembly: AssemblyFixture(typeof(EmbedderFixture))]

namespace SemCache.Embedding.Tests;

/// <summary>Loads the bundled model once for the whole test assembly.</summary>
public sealed class EmbedderFixture : IAsyncDisposable
{
    public EmbedderFixture() => Embedder = TextEmbedder.Create(new EmbeddingOptions());

    public TextEmbedder Embedder { get; }

    public ValueTask DisposeAsync() => Embedder.DisposeAsync();
}
