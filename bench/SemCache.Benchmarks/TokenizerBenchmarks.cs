using BenchmarkDotNet.Attributes;
using SemCache.Embedding;

namespace SemCache.Benchmarks;

[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private TextEmbedder _embedder = null!;

    [GlobalSetup]
    public void Setup() => _embedder = TextEmbedder.Create();

    [GlobalCleanup]
    public void Cleanup() => _embedder.Dispose();

    [Benchmark(Description = "tokenize short query (18 tokens)")]
    public TokenizedText ShortQuery() => _embedder.Tokenizer.Tokenize(Queries.Short);

    [Benchmark(Description = "tokenize paragraph (133 tokens)")]
    public TokenizedText Paragraph() => _embedder.Tokenizer.Tokenize(Queries.Paragraph);
}
