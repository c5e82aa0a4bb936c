using SemCache.Embedding;

namespace SemCache.Testing;

/// <summary>The bundled model, loaded once per test assembly (register it with <c>[assembly: AssemblyFixture(typeof(EmbedderFixture))]</c>).</summary>
public sealed class EmbedderFixture : IAsyncDisposable
{
    public TextEmbedder Embedder { get; } = TextEmbedder.Create(new EmbeddingOptions());

    public ValueTask DisposeAsync() => Embedder.DisposeAsync();
}
