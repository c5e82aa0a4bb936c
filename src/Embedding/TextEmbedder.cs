using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace SemCache.Embedding;

/// <summary>
/// Text in, sentence vector out: WordPiece tokenisation, a BERT-family ONNX model on ONNX Runtime, mean (or CLS)
/// pooling and L2 normalisation. Concurrent <see cref="EmbedAsync(string, CancellationToken)"/> calls are coalesced into batched model calls.
/// Thread-safe; create one per process and share it.
/// </summary>
public sealed partial class TextEmbedder : IDisposable, IAsyncDisposable
{
    private readonly OnnxEmbeddingModel _model;
    private readonly EmbeddingBatcher _batcher;
    private readonly ConcurrentBag<BatchBuffers> _directBuffers = [];
    private int _disposed;

    private TextEmbedder(EmbeddingOptions options, WordPieceTokenizer tokenizer, OnnxEmbeddingModel model, Meter? meter)
    {
        Options = options;
        Tokenizer = tokenizer;
        _model = model;
        ModelName = options.ResolveModelName();
        Histogram<int>? batchSizes = meter?.CreateHistogram(
            BatchSizeMetric, null, "Texts per model call of the micro-batcher.", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchSizeBuckets });
        _batcher = new EmbeddingBatcher(model, options, batchSizes);
    }

    /// <summary>The name of the batch-size histogram <see cref="Create"/> puts on the meter it is given.</summary>
    public const string BatchSizeMetric = "semcache_embedding_batch_size";

    /// <summary>Bucket upper bounds of <see cref="BatchSizeMetric"/>: powers of two, 1 to 256 texts.</summary>
    public static readonly IReadOnlyList<int> BatchSizeBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256];

    /// <summary>The options this embedder was created with.</summary>
    public EmbeddingOptions Options { get; }

    /// <summary>The tokenizer, for callers that need token counts.</summary>
    public WordPieceTokenizer Tokenizer { get; }

    /// <summary>Name of the model, as reported to clients.</summary>
    public string ModelName { get; }

    /// <summary>Width of every vector, read from the model.</summary>
    public int Dimension => _model.Dimension;

    /// <summary>The model's window in word pieces; longer texts are truncated and flagged.</summary>
    public int MaxTokens => Tokenizer.MaxTokens;

    /// <summary>The ONNX Runtime execution provider in use.</summary>
    public string ExecutionProvider => _model.ExecutionProvider;

    /// <summary>Model calls made by the batcher so far.</summary>
    public long BatchCount => _batcher.Batches;

    /// <summary>Texts embedded through the batcher so far.</summary>
    public long BatchedTextCount => _batcher.Embedded;

    /// <summary>The micro-batcher's estimate of one model call's fixed cost, in padded tokens (learnt from its calls).</summary>
    public double CallOverheadTokens => _batcher.CallOverheadTokens;

    /// <summary>Loads the model and vocabulary named by <paramref name="options"/> (the bundled model by default).</summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    /// <exception cref="FileNotFoundException">The model or vocabulary file is missing.</exception>
    /// <exception cref="InvalidOperationException">The model cannot be loaded, or CUDA was asked for and is not available.</exception>
    /// <param name="options">The model, its pooling and the batcher's limits; the bundled model's defaults when null.</param>
    /// <param name="loggerFactory">Where loading is logged; nowhere when null.</param>
    /// <param name="meter">Where the batcher records <see cref="BatchSizeMetric"/>; nowhere when null.</param>
    public static TextEmbedder Create(EmbeddingOptions? options = null, ILoggerFactory? loggerFactory = null, Meter? meter = null)
    {
        options ??= new EmbeddingOptions();
        options.Validate();
        ILogger logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<TextEmbedder>();
        long started = Stopwatch.GetTimestamp();
        var tokenizer = new WordPieceTokenizer(options.ResolveVocabPath(), options.MaxTokens, options.LowerCase);
        OnnxEmbeddingModel model = OnnxEmbeddingModel.Load(options, options.ResolveModelPath());
        var embedder = new TextEmbedder(options, tokenizer, model, meter);
        double elapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        Log.ModelLoaded(logger, embedder.ModelName, options.Precision, embedder.Dimension, model.ExecutionProvider, model.IntraOpThreads, options.MaxTokens, elapsedMs);
        return embedder;
    }

    /// <summary>
    /// Embeds one text through the micro-batcher: concurrent callers share model calls. The result's
    /// <see cref="EmbeddingResult.Truncated"/> says whether the text was longer than the window.
    /// </summary>
    public Task<EmbeddingResult> EmbedAsync(string text, CancellationToken cancellationToken = default) =>
        EmbedAsync(text, EmbeddingPriority.Interactive, cancellationToken);

    /// <summary>
    /// Embeds one text through the micro-batcher in the given queue: <see cref="EmbeddingPriority.Bulk"/> texts wait
    /// while interactive ones are queued, so a bulk load does not hold up lookups.
    /// </summary>
    public Task<EmbeddingResult> EmbedAsync(string text, EmbeddingPriority priority, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        _batcher.BeginArrival();
        TokenizedText tokens;
        try
        {
            tokens = Tokenizer.Tokenize(text);
        }
        catch
        {
            _batcher.AbandonArrival();
            throw;
        }

        return _batcher.Enqueue(tokens, priority, cancellationToken);
    }

    /// <summary>
    /// Embeds many texts through the batcher; results are in the order of <paramref name="texts"/>. One text is
    /// interactive; more are a bulk load, queued shortest first so that each model call holds texts of about one length.
    /// </summary>
    public Task<EmbeddingResult[]> EmbedManyAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var tasks = new Task<EmbeddingResult>[texts.Count];
        if (tasks.Length == 1)
        {
            tasks[0] = EmbedAsync(texts[0], EmbeddingPriority.Interactive, cancellationToken);
            return Task.WhenAll(tasks);
        }

        int[] order = [.. Enumerable.Range(0, tasks.Length)];
        Array.Sort(order, (a, b) => texts[a].Length.CompareTo(texts[b].Length));
        foreach (int i in order)
        {
            tasks[i] = EmbedAsync(texts[i], EmbeddingPriority.Bulk, cancellationToken);
        }

        return Task.WhenAll(tasks);
    }

    /// <summary>
    /// Embeds one text with its own model call on the calling thread, bypassing the batcher: the plain path that
    /// the batcher is measured against, and the lowest latency for a strictly sequential caller.
    /// </summary>
    public EmbeddingResult Embed(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        TokenizedText tokens = Tokenizer.Tokenize(text);
        var vector = new float[Dimension];
        RunDirect([tokens.Ids], vector);
        return new EmbeddingResult(vector, tokens.Ids.Length, tokens.Truncated);
    }

    /// <summary>Embeds already tokenised texts in one model call on the calling thread (no batcher).</summary>
    /// <param name="batch">Token ids, [CLS] … [SEP], each at most <see cref="MaxTokens"/> long.</param>
    /// <param name="destination">Receives <c>batch.Length × Dimension</c> floats, one row per text.</param>
    public void EmbedTokens(ReadOnlySpan<int[]> batch, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, batch.Length * Dimension, nameof(destination));
        foreach (int[] ids in batch)
        {
            if (ids is null || ids.Length < 2 || ids.Length > MaxTokens)
            {
                throw new ArgumentException($"Every sequence must hold 2 to {MaxTokens} token ids.", nameof(batch));
            }
        }

        RunDirect(batch, destination);
    }

    private void RunDirect(ReadOnlySpan<int[]> batch, Span<float> destination)
    {
        if (!_directBuffers.TryTake(out BatchBuffers? buffers))
        {
            buffers = new BatchBuffers();
        }

        try
        {
            _model.Run(batch, buffers, destination);
        }
        finally
        {
            _directBuffers.Add(buffers);
        }
    }

    /// <summary>Finishes queued requests, then releases the model.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _batcher.DisposeAsync().ConfigureAwait(false);
        _model.Dispose();
    }

    /// <inheritdoc cref="DisposeAsync"/>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information,
            Message = "Embedding model {Model} loaded: {Precision}, dimension {Dimension}, {Provider}, {Threads} intra-op threads, window {MaxTokens} tokens, in {ElapsedMs:F0} ms")]
        public static partial void ModelLoaded(ILogger logger, string model, ModelPrecision precision, int dimension, string provider, int threads, int maxTokens, double elapsedMs);
    }
}
