using BenchmarkDotNet.Attributes;
using SemCache.Embedding;

namespace SemCache.Benchmarks;

/// <summary>
/// 32 concurrent callers, each sending short queries back to back (a closed loop), for <see cref="Requests"/> requests
/// in all. Plain: every request is its own ONNX Runtime call on the caller's thread. Batched: requests go through the
/// micro-batcher. Reported per request, so 1 / mean is the throughput.
/// </summary>
[MemoryDiagnoser]
public class ThroughputBenchmarks
{
    public const int Requests = 512;
    private const int Callers = 32;
    private TextEmbedder _embedder = null!;

    [Params(1, 2)]
    public int IntraOpThreads { get; set; }

    [GlobalSetup]
    public void Setup() => _embedder = TextEmbedder.Create(new EmbeddingOptions { IntraOpThreads = IntraOpThreads });

    [GlobalCleanup]
    public void Cleanup() => _embedder.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = Requests, Description = "32 callers, one ONNX Runtime call each")]
    public Task Plain() => RunCallers(static (embedder, text) => Task.FromResult(embedder.Embed(text)));

    [Benchmark(OperationsPerInvoke = Requests, Description = "32 callers through the micro-batcher")]
    public Task Batched() => RunCallers(static (embedder, text) => embedder.EmbedAsync(text));

    private Task RunCallers(Func<TextEmbedder, string, Task<EmbeddingResult>> embed)
    {
        var callers = new Task[Callers];
        for (int c = 0; c < Callers; c++)
        {
            int caller = c;
            callers[c] = Task.Run(async () =>
            {
                for (int i = caller; i < Requests; i += Callers)
                {
                    await embed(_embedder, Queries.Mixed[i % Queries.Mixed.Length]).ConfigureAwait(false);
                }
            });
        }

        return Task.WhenAll(callers);
    }
}

/// <summary>The batch window: what it buys 32 concurrent callers and what it costs a lone one.</summary>
[MemoryDiagnoser]
public class BatchWindowBenchmarks
{
    private const int Callers = 32;
    private TextEmbedder _embedder = null!;

    [Params(0, 100, 300, 1000)]
    public int WindowMicroseconds { get; set; }

    [GlobalSetup]
    public void Setup() => _embedder = TextEmbedder.Create(new EmbeddingOptions { BatchWindow = TimeSpan.FromMicroseconds(WindowMicroseconds) });

    [GlobalCleanup]
    public void Cleanup() => _embedder.Dispose();

    [Benchmark(OperationsPerInvoke = ThroughputBenchmarks.Requests, Description = "32 callers, batched")]
    public Task ThirtyTwoCallers()
    {
        var callers = new Task[Callers];
        for (int c = 0; c < Callers; c++)
        {
            int caller = c;
            callers[c] = Task.Run(async () =>
            {
                for (int i = caller; i < ThroughputBenchmarks.Requests; i += Callers)
                {
                    await _embedder.EmbedAsync(Queries.Mixed[i % Queries.Mixed.Length]).ConfigureAwait(false);
                }
            });
        }

        return Task.WhenAll(callers);
    }

    [Benchmark(Description = "lone caller, batched")]
    public async Task<float> LoneCaller() => (await _embedder.EmbedAsync(Queries.Short).ConfigureAwait(false)).Vector[0];
}
