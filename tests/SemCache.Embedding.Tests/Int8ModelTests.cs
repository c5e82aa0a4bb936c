using System.Numerics.Tensors;

namespace SemCache.Embedding.Tests;

/// <summary>
/// The shipped int8 model (Embedding:Precision Int8, MatMulNBits 8-bit) against the fp32 one. The tolerance: every
/// sentence's vector within cosine 0.999 of its fp32 vector (measured 0.9995-0.9998), the empty text's ([CLS][SEP]
/// alone: two token vectors, no averaging to smooth the rounding) within 0.997 (measured 0.9983), and every sentence's
/// nearest neighbour the same.
/// </summary>
public sealed class Int8ModelTests(EmbedderFixture fixture)
{
    // Pairs of paraphrases, so each sentence has one clear nearest neighbour, over varied subjects, lengths and scripts.
    private static readonly string[] Sentences =
    [
        "How do I reset my password?",
        "I forgot my password, how can I change it?",
        "The weather is lovely today.",
        "It's so sunny outside!",
        "What is the capital of France?",
        "Which city is France's capital?",
        "How many calories are in a banana?",
        "What is the calorie count of one banana?",
        "Python list comprehension with two conditions",
        "How to filter a list in Python using a comprehension with multiple if clauses",
        "Café déjà vu — 東京",
        "東京でのカフェ、デジャヴ",
        "He drove to the stadium to watch the football match with his friends on Sunday afternoon.",
        "On Sunday afternoon he and his friends went by car to the stadium for the football game.",
        "",
        "a",
    ];

    private const float MinimumCosine = 0.999f;
    private const float MinimumCosineOfTheEmptyText = 0.997f;

    [Fact]
    public void Int8VectorsAreWithinCosine099OfFloat32AndKeepEveryNearestNeighbour()
    {
        using TextEmbedder int8 = TextEmbedder.Create(new EmbeddingOptions { Precision = ModelPrecision.Int8 });
        Assert.Equal(EmbeddingOptions.DefaultModelName, int8.ModelName);
        float[][] exact = Sentences.Select(s => fixture.Embedder.Embed(s).Vector).ToArray();
        float[][] quantized = Sentences.Select(s => int8.Embed(s).Vector).ToArray();
        float[] cosines = Sentences.Select((_, i) => TensorPrimitives.CosineSimilarity(exact[i], quantized[i])).ToArray();
        for (int i = 0; i < Sentences.Length; i++)
        {
            Assert.True(cosines[i] >= (Sentences[i].Length == 0 ? MinimumCosineOfTheEmptyText : MinimumCosine), $"'{Sentences[i]}': cosine {cosines[i]} between the int8 and fp32 vectors (all: {string.Join(", ", cosines)})");
            Assert.Equal(1.0, TensorPrimitives.Norm(quantized[i]), 1e-5);
        }

        for (int i = 0; i < Sentences.Length - 2; i++)
        {
            Assert.True(Nearest(exact, i) == Nearest(quantized, i), $"'{Sentences[i]}': nearest neighbour {Sentences[Nearest(quantized, i)]} with int8, {Sentences[Nearest(exact, i)]} with fp32");
        }
    }

    [Fact]
    public void AnInt8VectorBarelyDependsOnItsBatch()
    {
        // MatMulNBits quantises the activations per block of each row, so batch-mates barely move a text's vector
        // (DynamicQuantizeMatMul, with one range per call, would: that is one reason it is not the shipped kernel).
        using TextEmbedder int8 = TextEmbedder.Create(new EmbeddingOptions { Precision = ModelPrecision.Int8 });
        int[][] batch = Sentences.Select(s => int8.Tokenizer.Tokenize(s).Ids).ToArray();
        var together = new float[Sentences.Length * int8.Dimension];
        int8.EmbedTokens(batch, together);
        var cosines = new float[Sentences.Length];
        for (int i = 0; i < Sentences.Length; i++)
        {
            cosines[i] = TensorPrimitives.CosineSimilarity(int8.Embed(Sentences[i]).Vector, together.AsSpan(i * int8.Dimension, int8.Dimension));
        }

        Assert.True(cosines.Min() >= 0.99999f, $"cosines alone vs in a batch: {string.Join(", ", cosines)}");
    }

    [Fact]
    public void ACustomModelWithInt8IsRewrittenAtLoadAsTheBuildRewritesTheBundledOne()
    {
        string folder = Path.Combine(AppContext.BaseDirectory, "models", EmbeddingOptions.DefaultModelName);
        var custom = new EmbeddingOptions
        {
            ModelPath = Path.Combine(folder, "model.onnx"),
            VocabPath = Path.Combine(folder, "vocab.txt"),
            Precision = ModelPrecision.Int8,
        };
        using TextEmbedder rewritten = TextEmbedder.Create(custom);
        using TextEmbedder bundled = TextEmbedder.Create(new EmbeddingOptions { Precision = ModelPrecision.Int8 });
        foreach (string text in Sentences[..4])
        {
            float[] a = rewritten.Embed(text).Vector, b = bundled.Embed(text).Vector;
            for (int d = 0; d < a.Length; d++)
            {
                Assert.True(Math.Abs(a[d] - b[d]) < 1e-6, $"'{text}' dimension {d}: {a[d]} rewritten at load vs {b[d]} from the build");
            }
        }
    }

    [Fact]
    public void Int8OnACustomModelWithNothingToQuantiseIsRefusedClearly()
    {
        string folder = Path.Combine(Path.GetTempPath(), "semcache-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            string model = Path.Combine(folder, "model.onnx");
            File.WriteAllBytes(model, Int8RewriterTests.TinyModel(constantWeight: false));
            var options = new EmbeddingOptions
            {
                ModelPath = model,
                VocabPath = Path.Combine(AppContext.BaseDirectory, "models", EmbeddingOptions.DefaultModelName, "vocab.txt"),
                Precision = ModelPrecision.Int8,
            };
            InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => TextEmbedder.Create(options));
            Assert.Contains(model, e.Message, StringComparison.Ordinal);
            Assert.Contains("Float32", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static int Nearest(float[][] vectors, int of)
    {
        int best = -1;
        float bestScore = float.NegativeInfinity;
        for (int j = 0; j < vectors.Length; j++)
        {
            float score = j == of ? float.NegativeInfinity : TensorPrimitives.Dot(vectors[of], vectors[j]);
            if (score > bestScore)
            {
                bestScore = score;
                best = j;
            }
        }

        return best;
    }
}
