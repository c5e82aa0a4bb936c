using BenchmarkDotNet.Attributes;
using Microsoft.ML.OnnxRuntime;
using SemCache.Embedding;

namespace SemCache.Benchmarks;

/// <summary>
/// One short query at batch 1, sequentially: the latency a lone caller sees. The baseline is a bare ONNX Runtime call
/// (pre-tokenised ids, fresh tensors, no pooling) on a session with the same settings as the engine's.
/// </summary>
[MemoryDiagnoser]
public class SingleQueryBenchmarks
{
    private TextEmbedder _embedder = null!;
    private InferenceSession _bare = null!;
    private long[] _ids = null!;
    private long[] _mask = null!;
    private long[] _types = null!;
    private static readonly string[] InputNames = ["input_ids", "attention_mask", "token_type_ids"];
    private static readonly string[] OutputNames = ["last_hidden_state"];

    [GlobalSetup]
    public void Setup()
    {
        _embedder = TextEmbedder.Create();
        string model = Path.Combine(AppContext.BaseDirectory, "models", "all-MiniLM-L6-v2", "model.onnx");
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = Environment.ProcessorCount,
            InterOpNumThreads = 1,
        };
        _bare = new InferenceSession(model, options);
        int[] tokens = _embedder.Tokenizer.Tokenize(Queries.Short).Ids;
        _ids = tokens.Select(t => (long)t).ToArray();
        _mask = tokens.Select(_ => 1L).ToArray();
        _types = new long[tokens.Length];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _embedder.Dispose();
        _bare.Dispose();
    }

    [Benchmark(Baseline = true, Description = "bare ONNX Runtime call")]
    public float BareOnnxRuntime()
    {
        long[] shape = [1, _ids.Length];
        using var ids = OrtValue.CreateTensorValueFromMemory(_ids, shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(_mask, shape);
        using var types = OrtValue.CreateTensorValueFromMemory(_types, shape);
        using var runOptions = new RunOptions();
        using IDisposableReadOnlyCollection<OrtValue> outputs = _bare.Run(runOptions, InputNames, [ids, mask, types], OutputNames);
        return outputs[0].GetTensorDataAsSpan<float>()[0];
    }

    [Benchmark(Description = "Embed (direct: tokenize + run + pool)")]
    public float Direct() => _embedder.Embed(Queries.Short).Vector[0];

    [Benchmark(Description = "EmbedAsync (through the batcher, lone caller)")]
    public async Task<float> Batched() => (await _embedder.EmbedAsync(Queries.Short).ConfigureAwait(false)).Vector[0];
}
