using System.Diagnostics;
using System.Numerics.Tensors;
using System.Security.Cryptography;
using System.Text.Json;

namespace SemCache.Embedding.Tests;

/// <summary>Vectors must be the published all-MiniLM-L6-v2 sentence embeddings (mean pooling, L2-normalised).</summary>
public sealed class EmbeddingTests(EmbedderFixture fixture)
{
    private readonly TextEmbedder _embedder = fixture.Embedder;

    [Theory]
    // sentence-transformers R test suite, via shared/data/reference/reference-vectors.json.
    [InlineData("This is an example sentence", new[] { 0.06765693f, 0.06349593f, 0.04871314f, 0.07930495f, 0.03744806f, 0.00265273f })]
    [InlineData("Each sentence is converted.", new[] { 0.07853645f, 0.08856265f, -0.0020927f, -0.00717247f, -0.01252624f, 0.01881747f })]
    [InlineData("", new[] { -0.11883835f, 0.04829856f, -0.00254805f, -0.01101118f, 0.0519507f, 0.01029179f })]
    [InlineData("Café déjà vu — 東京", new[] { 0.05083271f, 0.00967685f, 0.09635572f, -0.00997369f, -0.01987603f, 0.01692343f })]
    // fastembed's canonical vector and sentence-transformers output quoted in fastembed-go issue #12.
    [InlineData("hello world", new[] { -0.0344772786f, 0.0310232081f, 0.00673494861f, 0.0261090137f, -0.0393620506f, -0.16030249f, 0.0669240057f, -0.00644144369f })]
    public void MatchesPublishedLeadingValues(string text, float[] expected)
    {
        float[] vector = _embedder.Embed(text).Vector;
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(vector[i] - expected[i]) < 1e-4, $"dimension {i}: {vector[i]} vs {expected[i]}");
        }
    }

    [Theory]
    [InlineData("hello world", -0.03447727486491203f, 383, 0.030206844210624695f)]
    [InlineData("this is a test", 0.0306123998016119f, 383, -0.04484280198812485f)]
    public void MatchesPublishedFirstAndLastValues(string text, float first, int lastIndex, float last)
    {
        float[] vector = _embedder.Embed(text).Vector;
        Assert.Equal(384, vector.Length);
        Assert.True(Math.Abs(vector[0] - first) < 1e-4);
        Assert.True(Math.Abs(vector[lastIndex] - last) < 1e-4);
    }

    [Theory]
    [InlineData("What is Deep Learning?")]
    [InlineData("Deep Learning is...")]
    public void MatchesAllDimensionsOfTextEmbeddingsInferenceSnapshots(string text)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Reference", "tei-minilm-normalized.json");
        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(path));
        float[] expected = document.RootElement.GetProperty(text).EnumerateArray().Select(e => e.GetSingle()).ToArray();
        float[] vector = _embedder.Embed(text).Vector;
        Assert.Equal(expected.Length, vector.Length);
        Assert.True(TensorPrimitives.CosineSimilarity(expected, vector) > 0.9999f);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(vector[i] - expected[i]) < 1e-3, $"dimension {i}: {vector[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void ReproducesTheSentenceTransformersReadmeSimilarities()
    {
        float[] weather = _embedder.Embed("The weather is lovely today.").Vector;
        float[] sunny = _embedder.Embed("It's so sunny outside!").Vector;
        float[] stadium = _embedder.Embed("He drove to the stadium.").Vector;
        Assert.Equal(0.6660, TensorPrimitives.Dot(weather, sunny), 1e-4);
        Assert.Equal(0.1046, TensorPrimitives.Dot(weather, stadium), 1e-4);
        Assert.Equal(0.1411, TensorPrimitives.Dot(sunny, stadium), 1e-4);
    }

    [Theory]
    // fastembed-rs: sum of the normalised fp32 vector's components.
    [InlineData("Hello, World!", 0.59605527)]
    [InlineData("This is an example passage.", 0.36542925)]
    [InlineData("fastembed-rs is licensed under Apache-2.0", -0.16450031)]
    [InlineData("Some other short text here blah blah blah", -0.40903988)]
    public void MatchesPublishedComponentSums(string text, double sum)
    {
        Assert.Equal(sum, TensorPrimitives.Sum(_embedder.Embed(text).Vector), 1e-3);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a")]
    [InlineData("What is the capital of France?")]
    [InlineData("東京タワーの高さは何メートルですか")]
    [InlineData("!!!???...")]
    public void EveryVectorHasUnitNorm(string text)
    {
        Assert.Equal(1.0, TensorPrimitives.Norm(_embedder.Embed(text).Vector), 1e-5);
    }

    [Fact]
    public void ABatchGivesEachTextItsOwnVector()
    {
        string[] texts =
        [
            "short",
            "A somewhat longer sentence about the weather in Paris in spring.",
            "",
            string.Join(' ', Enumerable.Repeat("padding makes this text much longer than the others", 8)),
            "What is the capital of France?",
        ];
        int[][] batch = texts.Select(t => _embedder.Tokenizer.Tokenize(t).Ids).ToArray();
        var together = new float[texts.Length * _embedder.Dimension];
        _embedder.EmbedTokens(batch, together);
        for (int i = 0; i < texts.Length; i++)
        {
            float[] alone = _embedder.Embed(texts[i]).Vector;
            ReadOnlySpan<float> row = together.AsSpan(i * _embedder.Dimension, _embedder.Dimension);
            for (int d = 0; d < alone.Length; d++)
            {
                Assert.True(Math.Abs(alone[d] - row[d]) < 1e-5, $"text {i} dimension {d}: {row[d]} in a batch vs {alone[d]} alone");
            }
        }
    }

    [Fact]
    public void EmbedTokensRefusesSequencesOutsideTheWindowAndAShortDestination()
    {
        int[] ok = _embedder.Tokenizer.Tokenize("fine").Ids;
        int[] tooLong = [101, .. Enumerable.Repeat(4937, _embedder.MaxTokens - 1), 102];
        var one = new float[_embedder.Dimension];
        Assert.Throws<ArgumentException>(() => _embedder.EmbedTokens([ok, [101]], new float[2 * _embedder.Dimension]));
        Assert.Throws<ArgumentException>(() => _embedder.EmbedTokens([tooLong], one));
        Assert.Throws<ArgumentException>(() => _embedder.EmbedTokens([ok, null!], new float[2 * _embedder.Dimension]));
        Assert.Throws<ArgumentOutOfRangeException>(() => _embedder.EmbedTokens([ok, ok], one));

        // The longest sequence allowed is accepted.
        _embedder.EmbedTokens([tooLong[1..]], one);
        Assert.Equal(1.0, TensorPrimitives.Norm(one), 1e-5);
    }

    [Fact]
    public async Task ConcurrentCallersAreBatchedAndGetTheirOwnVectors()
    {
        await using TextEmbedder embedder = TextEmbedder.Create(new EmbeddingOptions());
        string[] texts = Enumerable.Range(0, 96).Select(i => $"Question number {i}: how do I {(i % 3 == 0 ? "cook rice" : "learn to swim")} {new string('!', i % 7)}").ToArray();
        EmbeddingResult[] results = await embedder.EmbedManyAsync(texts, TestContext.Current.CancellationToken);
        Assert.Equal(texts.Length, results.Length);
        Assert.Equal(texts.Length, embedder.BatchedTextCount);
        Assert.True(embedder.BatchCount <= texts.Length / 2, $"{embedder.BatchCount} model calls for {texts.Length} concurrent texts");
        for (int i = 0; i < texts.Length; i++)
        {
            float[] alone = embedder.Embed(texts[i]).Vector;
            for (int d = 0; d < alone.Length; d++)
            {
                Assert.True(Math.Abs(alone[d] - results[i].Vector[d]) < 1e-5, $"text {i} dimension {d}");
            }
        }
    }

    [Theory]
    [InlineData(8192, 1)]
    [InlineData(256, 64)]
    public async Task NoModelCallExceedsTheBatchLimits(int maxBatchTokens, int maxBatchSize)
    {
        // Every text fills the 256-token window, so either limit allows one text per model call: however the
        // requests arrive, there must be exactly one call per text, each giving that text its own vector.
        await using TextEmbedder embedder = TextEmbedder.Create(new EmbeddingOptions { MaxBatchTokens = maxBatchTokens, MaxBatchSize = maxBatchSize });
        string[] texts = Enumerable.Range(0, 6).Select(i => $"text {i} " + string.Join(' ', Enumerable.Repeat($"window filler {i}", 120))).ToArray();
        EmbeddingResult[] results = await embedder.EmbedManyAsync(texts, TestContext.Current.CancellationToken);
        Assert.All(results, r => Assert.Equal(256, r.TokenCount));
        Assert.Equal(texts.Length, embedder.BatchedTextCount);
        Assert.Equal(texts.Length, embedder.BatchCount);
        for (int i = 0; i < texts.Length; i++)
        {
            Assert.Equal(1.0, TensorPrimitives.Dot(embedder.Embed(texts[i]).Vector, results[i].Vector), 1e-5);
        }
    }

    [Fact]
    public async Task AnInteractiveTextGoesAheadOfABulkLoadQueuedBeforeIt()
    {
        // One text per model call, so the order of the calls is the order of the queue.
        await using TextEmbedder embedder = TextEmbedder.Create(new EmbeddingOptions { MaxBatchSize = 1 });
        string[] bulk = Enumerable.Range(0, 24).Select(i => $"bulk text number {i} about gardening").ToArray();
        Task<long>[] bulkDone = bulk.Select(t => embedder.EmbedAsync(t, EmbeddingPriority.Bulk, TestContext.Current.CancellationToken)
            .ContinueWith(_ => Stopwatch.GetTimestamp(), TaskScheduler.Default)).ToArray();
        long interactiveDone = await embedder.EmbedAsync("an interactive lookup", TestContext.Current.CancellationToken)
            .ContinueWith(_ => Stopwatch.GetTimestamp(), TaskScheduler.Default);
        long[] bulkTimes = await Task.WhenAll(bulkDone);
        int after = bulkTimes.Count(t => t > interactiveDone);
        Assert.True(after >= bulk.Length / 2, $"only {after} of {bulk.Length} bulk texts queued before it finished after the interactive one");
        Assert.Equal(bulk.Length + 1, embedder.BatchedTextCount);
    }

    [Fact]
    public async Task EveryResultTellsItsQueueWaitModelTimeAndBatch()
    {
        await using TextEmbedder embedder = TextEmbedder.Create(new EmbeddingOptions());
        EmbeddingResult[] results = await embedder.EmbedManyAsync(["one short text", "and another, a little longer than the first one"], TestContext.Current.CancellationToken);
        Assert.All(results, r =>
        {
            Assert.True(r.ModelTime > TimeSpan.Zero);
            Assert.True(r.QueueWait >= TimeSpan.Zero);
            Assert.InRange(r.BatchSize, 1, 2);
        });
    }

    [Fact]
    public async Task ALongTextIsFlaggedAsTruncatedSoItCannotPassForAnother()
    {
        string shared = string.Join(' ', Enumerable.Repeat("the cache must not confuse these", 60));
        EmbeddingResult a = await _embedder.EmbedAsync(shared + " and then asks about apples", TestContext.Current.CancellationToken);
        EmbeddingResult b = await _embedder.EmbedAsync(shared + " but really wants to know about rockets", TestContext.Current.CancellationToken);
        Assert.True(a.Truncated);
        Assert.True(b.Truncated);
        Assert.Equal(256, a.TokenCount);
        // Same first 254 word pieces, same vector: exactly why the flag exists.
        Assert.Equal(1.0, TensorPrimitives.Dot(a.Vector, b.Vector), 1e-5);
        Assert.False((await _embedder.EmbedAsync("a short prompt", TestContext.Current.CancellationToken)).Truncated);
    }

    [Fact]
    public async Task ACancelledRequestIsCancelled()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _embedder.EmbedAsync("hello", cts.Token));
    }

    [Fact]
    public async Task ARequestCancelledWhileQueuedIsCancelledAndNeverRun()
    {
        // One text per model call and 32 window-filling texts ahead: the request is still queued (seconds of model
        // time away) when it is cancelled, right after it was queued.
        await using TextEmbedder embedder = TextEmbedder.Create(new EmbeddingOptions { MaxBatchSize = 1 });
        string[] ahead = Enumerable.Range(0, 32).Select(i => $"text {i} " + string.Join(' ', Enumerable.Repeat($"queue filler {i}", 120))).ToArray();
        // Interactive, as the request is: bulk texts would let it go first.
        Task<EmbeddingResult[]> before = Task.WhenAll(ahead.Select(t => embedder.EmbedAsync(t, TestContext.Current.CancellationToken)));
        using var cts = new CancellationTokenSource();
        Task<EmbeddingResult> cancelled = embedder.EmbedAsync("cancel me while I wait", cts.Token);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.True(cancelled.IsCanceled);
        Assert.Equal(ahead.Length, (await before).Length);
        EmbeddingResult after = await embedder.EmbedAsync("asked after the cancellation", TestContext.Current.CancellationToken);
        Assert.Equal(1.0, TensorPrimitives.Dot(_embedder.Embed("asked after the cancellation").Vector, after.Vector), 1e-5);

        // The cancelled request took no model time: every call embedded one of the others.
        Assert.Equal(ahead.Length + 1, embedder.BatchedTextCount);
        Assert.Equal(ahead.Length + 1, embedder.BatchCount);
    }

    [Fact]
    public async Task ADisposedEmbedderRefusesWork()
    {
        TextEmbedder embedder = TextEmbedder.Create(new EmbeddingOptions { BatchWindow = TimeSpan.Zero });
        await embedder.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => embedder.EmbedAsync("hello", TestContext.Current.CancellationToken));
        Assert.Throws<ObjectDisposedException>(() => embedder.Embed("hello"));
    }

    [Fact]
    public async Task DisposingFinishesTheRequestsAlreadyQueued()
    {
        // "Finishes queued requests, then releases the model": every request queued before DisposeAsync gets its own
        // vector, none is failed or cancelled by the shutdown.
        TextEmbedder embedder = TextEmbedder.Create(new EmbeddingOptions { MaxBatchSize = 2 });
        string[] texts = Enumerable.Range(0, 12).Select(i => $"A question asked just before shutdown, number {i}").ToArray();
        Task<EmbeddingResult>[] queued = texts.Select(t => embedder.EmbedAsync(t, TestContext.Current.CancellationToken)).ToArray();
        await embedder.DisposeAsync();

        for (int i = 0; i < texts.Length; i++)
        {
            Assert.True(queued[i].IsCompletedSuccessfully, $"text {i}: {queued[i].Status} {queued[i].Exception?.InnerException?.Message}");
            float[] vector = (await queued[i]).Vector;
            Assert.Equal(1.0, TensorPrimitives.Dot(_embedder.Embed(texts[i]).Vector, vector), 1e-5);
        }
    }

    [Fact]
    public void ClsPoolingGivesTheKnownClsSignature()
    {
        // The published signature of a pipeline that pools [CLS] instead of the mean (old fastembed).
        using TextEmbedder cls = TextEmbedder.Create(new EmbeddingOptions { Pooling = PoolingMode.Cls });
        float[] vector = cls.Embed("hello world").Vector;
        float[] expected = [0.0259f, 0.0058f, 0.0114f, 0.038f, -0.0233f];
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(vector[i] - expected[i]) < 1e-3, $"dimension {i}: {vector[i]}");
        }
    }

    [Fact]
    public void WithoutNormalisationTheMeanIsReturnedAsIs()
    {
        using TextEmbedder raw = TextEmbedder.Create(new EmbeddingOptions { Normalize = false });
        float[] vector = raw.Embed("What is Deep Learning?").Vector;
        // text-embeddings-inference's raw mean-pooled snapshot has norm 7.5809.
        Assert.Equal(7.5809, TensorPrimitives.Norm(vector), 1e-3);
    }

    [Fact]
    public void TheWindowAndCaseOptionsReachTheTokenizer()
    {
        using TextEmbedder embedder = TextEmbedder.Create(new EmbeddingOptions { MaxTokens = 16, LowerCase = false });
        Assert.Equal(16, embedder.MaxTokens);
        EmbeddingResult result = embedder.Embed(string.Join(' ', Enumerable.Repeat("cat", 20)));
        Assert.True(result.Truncated);
        Assert.Equal(16, result.TokenCount);
        Assert.NotEqual(embedder.Tokenizer.Tokenize("hello").Ids, embedder.Tokenizer.Tokenize("HELLO").Ids);
    }

    [Fact]
    public void ACustomModelPathLoadsThatModelAndNamesItAfterItsFolder()
    {
        string folder = Path.Combine(AppContext.BaseDirectory, "models", "all-MiniLM-L6-v2");
        using TextEmbedder custom = TextEmbedder.Create(new EmbeddingOptions
        {
            ModelPath = Path.Combine(folder, "model.onnx"),
            VocabPath = Path.Combine(folder, "vocab.txt"),
        });
        Assert.Equal("all-MiniLM-L6-v2", custom.ModelName);
        Assert.Equal(384, custom.Dimension);
        Assert.Equal(_embedder.Embed("hello").Vector, custom.Embed("hello").Vector);

        // The bundled folder's name is also the default name, so the name must be seen to come from another folder.
        string renamed = Path.Combine(Path.GetTempPath(), "semcache-test-" + Guid.NewGuid().ToString("N"), "my-minilm");
        Directory.CreateDirectory(renamed);
        try
        {
            File.CreateSymbolicLink(Path.Combine(renamed, "model.onnx"), Path.Combine(folder, "model.onnx"));
            File.CreateSymbolicLink(Path.Combine(renamed, "vocab.txt"), Path.Combine(folder, "vocab.txt"));
            var options = new EmbeddingOptions { ModelPath = Path.Combine(renamed, "model.onnx"), VocabPath = Path.Combine(renamed, "vocab.txt") };
            using (TextEmbedder named = TextEmbedder.Create(options))
            {
                Assert.Equal("my-minilm", named.ModelName);
            }

            options.ModelName = "given-name";
            using TextEmbedder given = TextEmbedder.Create(options);
            Assert.Equal("given-name", given.ModelName);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(renamed)!, recursive: true);
        }
    }

    [Fact]
    public void TheBundledModelIsTheVerifiedAllMiniLmL6V2()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "models", "all-MiniLM-L6-v2", "model.onnx");
        using FileStream stream = File.OpenRead(path);
        Assert.Equal(90_893_304, stream.Length);
        Assert.Equal("4a64cee3d4134bbdc86eed96e1a660efec58975417204ecfcf134140edb6e0e2", Convert.ToHexStringLower(SHA256.HashData(stream)));
        Assert.Equal("all-MiniLM-L6-v2", _embedder.ModelName);
        Assert.Equal(256, _embedder.MaxTokens);
    }
}
