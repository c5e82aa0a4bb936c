namespace SemCache.Embedding;

/// <summary>How token vectors become one sentence vector.</summary>
public enum PoolingMode
{
    /// <summary>Average of the token vectors under the attention mask (sentence-transformers' default; all-MiniLM-L6-v2).</summary>
    Mean,

    /// <summary>The vector of the first token, [CLS] (bge and some other models).</summary>
    Cls,
}

/// <summary>Where ONNX Runtime runs the model.</summary>
public enum ExecutionProviderKind
{
    /// <summary>ONNX Runtime's CPU execution provider (the default build).</summary>
    Cpu,

    /// <summary>
    /// ONNX Runtime's CUDA execution provider. Needs the GPU build (<c>-p:OnnxRuntimeFlavor=Gpu</c>) and CUDA 13 with cuDNN 9
    /// on the machine; start-up fails with a message naming what is missing otherwise.
    /// </summary>
    Cuda,
}

/// <summary>Number format of the model's weights and matrix products.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1720:Identifier contains type name",
    Justification = "The values are the number formats themselves, as written in configuration (Embedding:Precision Int8).")]
public enum ModelPrecision
{
    /// <summary>The model as published: float32 weights and products.</summary>
    Float32,

    /// <summary>
    /// The MatMuls with constant weights as ONNX Runtime's <c>MatMulNBits</c> with 8 bits: int8 weights (symmetric, one
    /// scale per block of 32 along K) and int8 activations quantised per block of each row at run time (accuracy_level 4).
    /// Faster on CPUs with VNNI; vectors within cosine 0.998 of Float32, STS-B and QQP cache quality within the gates
    /// (see docs/benchmarks.md, "Int8 model"). The bundled model's int8 file is made at build time; a custom
    /// <see cref="EmbeddingOptions.ModelPath"/> is rewritten in memory when it loads.
    /// </summary>
    Int8,
}

/// <summary>
/// Options of the embedding engine. Every default is stated on its property; <see cref="Validate"/> checks them all
/// and names the first one that is wrong.
/// </summary>
public sealed class EmbeddingOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Embedding";

    /// <summary>Name of the model that ships with SemCache.</summary>
    public const string DefaultModelName = "all-MiniLM-L6-v2";

    /// <summary>
    /// Path of a BERT-family ONNX model (inputs <c>input_ids</c>, <c>attention_mask</c>, optionally
    /// <c>token_type_ids</c>; first output <c>[batch, tokens, hidden]</c>). Default: <c>null</c>, the bundled
    /// all-MiniLM-L6-v2 in <c>models/all-MiniLM-L6-v2/model.onnx</c> beside the application.
    /// </summary>
    public string? ModelPath { get; set; }

    /// <summary>Path of the model's WordPiece <c>vocab.txt</c>. Default: <c>null</c>, the bundled model's vocabulary.</summary>
    public string? VocabPath { get; set; }

    /// <summary>Name reported for the model. Default: <c>null</c>, which means the bundled model's name, or the model file's folder name for a custom model.</summary>
    public string? ModelName { get; set; }

    /// <summary>Pooling of token vectors. Default: <see cref="PoolingMode.Mean"/>.</summary>
    public PoolingMode Pooling { get; set; } = PoolingMode.Mean;

    /// <summary>L2-normalise every vector, so cosine similarity is a dot product. Default: <c>true</c>.</summary>
    public bool Normalize { get; set; } = true;

    /// <summary>Lower-case and strip accents before WordPiece, as uncased BERT models expect. Default: <c>true</c>.</summary>
    public bool LowerCase { get; set; } = true;

    /// <summary>
    /// The model's window in word pieces, [CLS] and [SEP] included (longer texts are truncated and reported as such).
    /// Default: 256, the window all-MiniLM-L6-v2 was trained with. Range 8–8192.
    /// </summary>
    public int MaxTokens { get; set; } = 256;

    /// <summary>ONNX Runtime intra-op threads per model call. Default: 0, one per core.</summary>
    public int IntraOpThreads { get; set; }

    /// <summary>
    /// Whether ONNX Runtime's intra-op threads spin between and after model calls (its
    /// <c>session.intra_op.allow_spinning</c>) instead of sleeping. Spinning saves a wake-up per parallel section, but
    /// a spinning thread takes a core that the server's request threads need on a small machine. Default: <c>true</c>.
    /// </summary>
    public bool IntraOpSpinning { get; set; } = true;

    /// <summary>
    /// How long the micro-batcher holds the first request of a batch while others are on their way.
    /// Default: 300 µs (measured: see docs/benchmarks.md). Zero disables waiting. Range 0–100 ms.
    /// A request that arrives while no other caller is active never waits.
    /// </summary>
    public TimeSpan BatchWindow { get; set; } = TimeSpan.FromMicroseconds(300);

    /// <summary>
    /// Upper bound of one model call, in padded tokens (batch size × longest text in the batch), as
    /// text-embeddings-inference's max-batch-tokens. Default: 8192 (measured). At least <see cref="MaxTokens"/>.
    /// </summary>
    public int MaxBatchTokens { get; set; } = 8192;

    /// <summary>Upper bound of texts in one model call. Default: 64. Range 1–4096.</summary>
    public int MaxBatchSize { get; set; } = 64;

    /// <summary>
    /// Weight precision. Default: <see cref="ModelPrecision.Float32"/>. <see cref="ModelPrecision.Int8"/> loads
    /// <c>models/all-MiniLM-L6-v2/model.int8.onnx</c> (made at build time, SHA-256 pinned) for the bundled model, and
    /// rewrites a custom model's MatMuls to int8 in memory at load time.
    /// </summary>
    public ModelPrecision Precision { get; set; } = ModelPrecision.Float32;

    /// <summary>Execution provider. Default: <see cref="ExecutionProviderKind.Cpu"/>.</summary>
    public ExecutionProviderKind ExecutionProvider { get; set; } = ExecutionProviderKind.Cpu;

    /// <summary>CUDA device ordinal, used with <see cref="ExecutionProviderKind.Cuda"/>. Default: 0.</summary>
    public int CudaDeviceId { get; set; }

    /// <summary>Checks every option; throws <see cref="ArgumentException"/> naming the option and its allowed range.</summary>
    public void Validate()
    {
        if (ModelPath is not null && string.IsNullOrWhiteSpace(ModelPath))
        {
            throw new ArgumentException("Embedding:ModelPath is empty: leave it unset for the bundled model, or give the path of an ONNX file.", nameof(ModelPath));
        }

        if ((ModelPath is null) != (VocabPath is null))
        {
            throw new ArgumentException("Embedding:ModelPath and Embedding:VocabPath go together: set both for a custom model, or neither for the bundled one.", nameof(VocabPath));
        }

        if (MaxTokens is < 8 or > 8192)
        {
            throw new ArgumentException($"Embedding:MaxTokens is {MaxTokens}; it must be between 8 and 8192.", nameof(MaxTokens));
        }

        if (IntraOpThreads is < 0 or > 1024)
        {
            throw new ArgumentException($"Embedding:IntraOpThreads is {IntraOpThreads}; it must be between 0 (one per core) and 1024.", nameof(IntraOpThreads));
        }

        if (BatchWindow < TimeSpan.Zero || BatchWindow > TimeSpan.FromMilliseconds(100))
        {
            throw new ArgumentException($"Embedding:BatchWindow is {BatchWindow.TotalMicroseconds} µs; it must be between 0 and 100 ms.", nameof(BatchWindow));
        }

        if (MaxBatchTokens < MaxTokens || MaxBatchTokens > 1 << 20)
        {
            throw new ArgumentException($"Embedding:MaxBatchTokens is {MaxBatchTokens}; it must be at least Embedding:MaxTokens ({MaxTokens}) and at most 1048576.", nameof(MaxBatchTokens));
        }

        if (MaxBatchSize is < 1 or > 4096)
        {
            throw new ArgumentException($"Embedding:MaxBatchSize is {MaxBatchSize}; it must be between 1 and 4096.", nameof(MaxBatchSize));
        }

        if (!Enum.IsDefined(Pooling))
        {
            throw new ArgumentException($"Embedding:Pooling is {Pooling}; it must be Mean or Cls.", nameof(Pooling));
        }

        if (!Enum.IsDefined(Precision))
        {
            throw new ArgumentException($"Embedding:Precision is {Precision}; it must be Float32 or Int8.", nameof(Precision));
        }

        if (!Enum.IsDefined(ExecutionProvider))
        {
            throw new ArgumentException($"Embedding:ExecutionProvider is {ExecutionProvider}; it must be Cpu or Cuda.", nameof(ExecutionProvider));
        }

        if (CudaDeviceId is < 0 or > 255)
        {
            throw new ArgumentException($"Embedding:CudaDeviceId is {CudaDeviceId}; it must be between 0 and 255.", nameof(CudaDeviceId));
        }
    }

    /// <summary>File name of the bundled model's int8 variant, beside its model.onnx.</summary>
    internal const string Int8ModelFileName = "model.int8.onnx";

    internal string ResolveModelPath() =>
        ModelPath ?? Path.Combine(AppContext.BaseDirectory, "models", DefaultModelName, Precision == ModelPrecision.Int8 ? Int8ModelFileName : "model.onnx");

    /// <summary>Whether the model file must be rewritten to int8 as it loads (a custom model with <see cref="ModelPrecision.Int8"/>).</summary>
    internal bool RewritesAtLoad => ModelPath is not null && Precision == ModelPrecision.Int8;

    internal string ResolveVocabPath() => VocabPath ?? Path.Combine(AppContext.BaseDirectory, "models", DefaultModelName, "vocab.txt");

    internal string ResolveModelName() =>
        ModelName ?? (ModelPath is null ? DefaultModelName : new DirectoryInfo(Path.GetDirectoryName(Path.GetFullPath(ModelPath)) ?? ".").Name);
}
