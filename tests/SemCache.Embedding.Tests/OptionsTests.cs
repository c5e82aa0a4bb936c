using Microsoft.ML.OnnxRuntime;

namespace SemCache.Embedding.Tests;

public sealed class OptionsTests
{
    [Fact]
    public void DefaultsAreValid() => new EmbeddingOptions().Validate();

    public static TheoryData<string, Action<EmbeddingOptions>> EdgeOptions => new()
    {
        { "MaxTokens 8", o => o.MaxTokens = 8 },
        { "MaxTokens 8192", o => o.MaxTokens = 8192 },
        { "IntraOpThreads 1024", o => o.IntraOpThreads = 1024 },
        { "BatchWindow 0", o => o.BatchWindow = TimeSpan.Zero },
        { "BatchWindow 100 ms", o => o.BatchWindow = TimeSpan.FromMilliseconds(100) },
        { "MaxBatchTokens = MaxTokens", o => o.MaxBatchTokens = o.MaxTokens },
        { "MaxBatchTokens 1048576", o => o.MaxBatchTokens = 1 << 20 },
        { "MaxBatchSize 1", o => o.MaxBatchSize = 1 },
        { "MaxBatchSize 4096", o => o.MaxBatchSize = 4096 },
        { "CudaDeviceId 255", o => o.CudaDeviceId = 255 },
        { "Pooling Cls", o => o.Pooling = PoolingMode.Cls },
        { "Precision Int8", o => o.Precision = ModelPrecision.Int8 },
    };

    [Theory]
    [MemberData(nameof(EdgeOptions))]
    public void TheEdgesOfEveryRangeAreAccepted(string edge, Action<EmbeddingOptions> change)
    {
        var options = new EmbeddingOptions();
        change(options);
        Exception? rejected = Record.Exception(options.Validate);
        Assert.True(rejected is null, $"{edge} is inside its range but was rejected: {rejected?.Message}");
    }

    public static TheoryData<string, Action<EmbeddingOptions>> InvalidOptions => new()
    {
        { "MaxTokens", o => o.MaxTokens = 2 },
        { "MaxTokens", o => o.MaxTokens = 100_000 },
        { "IntraOpThreads", o => o.IntraOpThreads = -1 },
        { "IntraOpThreads", o => o.IntraOpThreads = 1025 },
        { "BatchWindow", o => o.BatchWindow = TimeSpan.FromSeconds(1) },
        { "BatchWindow", o => o.BatchWindow = TimeSpan.FromMilliseconds(-1) },
        { "MaxBatchTokens", o => o.MaxBatchTokens = 100 },
        { "MaxBatchTokens", o => o.MaxBatchTokens = (1 << 20) + 1 },
        { "MaxBatchSize", o => o.MaxBatchSize = 0 },
        { "MaxBatchSize", o => o.MaxBatchSize = 4097 },
        { "Pooling", o => o.Pooling = (PoolingMode)7 },
        { "ExecutionProvider", o => o.ExecutionProvider = (ExecutionProviderKind)7 },
        { "Precision", o => o.Precision = (ModelPrecision)7 },
        { "CudaDeviceId", o => o.CudaDeviceId = -1 },
        { "CudaDeviceId", o => o.CudaDeviceId = 256 },
        { "ModelPath", o => o.ModelPath = " " },
        { "VocabPath", o => o.ModelPath = "/models/model.onnx" },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void InvalidOptionsAreRejectedByName(string option, Action<EmbeddingOptions> change)
    {
        var options = new EmbeddingOptions();
        change(options);
        ArgumentException e = Assert.Throws<ArgumentException>(options.Validate);
        // The check that fired must be this option's own: the MaxBatchTokens message also names Embedding:MaxTokens,
        // so a missing upper bound on MaxTokens would otherwise pass as the MaxBatchTokens error.
        Assert.Equal(option, e.ParamName);
        Assert.Contains("Embedding:" + option, e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => TextEmbedder.Create(options));
    }

    [Fact]
    public void APrecisionOutOfTheEnumNamesTheAllowedValues()
    {
        var options = new EmbeddingOptions { Precision = (ModelPrecision)7 };
        ArgumentException e = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("Float32 or Int8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Int8ResolvesTheBundledInt8FileAndAffectsNoCustomPath()
    {
        Assert.EndsWith(Path.Combine("all-MiniLM-L6-v2", "model.int8.onnx"), new EmbeddingOptions { Precision = ModelPrecision.Int8 }.ResolveModelPath(), StringComparison.Ordinal);
        Assert.EndsWith(Path.Combine("all-MiniLM-L6-v2", "model.onnx"), new EmbeddingOptions().ResolveModelPath(), StringComparison.Ordinal);
        var custom = new EmbeddingOptions { ModelPath = "/models/x/model.onnx", VocabPath = "/models/x/vocab.txt", Precision = ModelPrecision.Int8 };
        Assert.Equal("/models/x/model.onnx", custom.ResolveModelPath());
        Assert.True(custom.RewritesAtLoad);
        Assert.False(new EmbeddingOptions { Precision = ModelPrecision.Int8 }.RewritesAtLoad);
    }

    [Fact]
    public void AMissingCustomModelIsReportedWithItsPath()
    {
        var options = new EmbeddingOptions { ModelPath = "/nonexistent/model.onnx", VocabPath = Path.Combine(AppContext.BaseDirectory, "models", "all-MiniLM-L6-v2", "vocab.txt") };
        FileNotFoundException e = Assert.Throws<FileNotFoundException>(() => TextEmbedder.Create(options));
        Assert.Contains("/nonexistent/model.onnx", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFileThatIsNotAnOnnxModelIsReportedClearly()
    {
        string folder = Path.Combine(Path.GetTempPath(), "semcache-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            string model = Path.Combine(folder, "model.onnx");
            File.WriteAllText(model, "not a model");
            var options = new EmbeddingOptions { ModelPath = model, VocabPath = Path.Combine(AppContext.BaseDirectory, "models", "all-MiniLM-L6-v2", "vocab.txt") };
            InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => TextEmbedder.Create(options));
            Assert.Contains(model, e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void CudaWithoutTheGpuBuildFailsAtStartWithWhatIsMissing()
    {
        if (OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider"))
        {
            Assert.Skip("This build links the CUDA execution provider; the CPU-build error path does not apply.");
        }

        var options = new EmbeddingOptions { ExecutionProvider = ExecutionProviderKind.Cuda };
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => TextEmbedder.Create(options));
        Assert.Contains("CPU-only", e.Message, StringComparison.Ordinal);
        Assert.Contains("-p:OnnxRuntimeFlavor=Gpu", e.Message, StringComparison.Ordinal);
        Assert.Contains("CPUExecutionProvider", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CudaOnTheGpuBuildWithoutAUsableGpuFailsAtStartWithWhatIsMissing()
    {
        // Runs in the GPU build (-p:OnnxRuntimeFlavor=Gpu) on a machine without CUDA, as on CI's GPU-less machines.
        if (!OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider"))
        {
            Assert.Skip("This is the CPU build; the GPU build's error path does not apply.");
        }

        TextEmbedder embedder;
        try
        {
            embedder = TextEmbedder.Create(new EmbeddingOptions { ExecutionProvider = ExecutionProviderKind.Cuda });
        }
        catch (InvalidOperationException e)
        {
            Assert.Contains("could not start CUDA", e.Message, StringComparison.Ordinal);
            Assert.Contains("cuDNN 9", e.Message, StringComparison.Ordinal);
            return;
        }

        // A machine with a working GPU: the vectors must still be the model's.
        using (embedder)
        {
            Assert.Equal("CUDAExecutionProvider", embedder.ExecutionProvider);
            Assert.Equal(0.06765693, embedder.Embed("This is an example sentence").Vector[0], 1e-3);
        }
    }
}
