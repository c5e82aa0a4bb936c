using System.Diagnostics;
using System.Threading.Channels;

namespace SemCache.Embedding;

/// <summary>
/// Coalesces concurrent embedding requests into few model calls, as text-embeddings-inference does: requests that
/// arrive while a batch is being formed (within <see cref="EmbeddingOptions.BatchWindow"/> of the first) run as one
/// call, sorted by length so little is padded, and split so that no call exceeds
/// <see cref="EmbeddingOptions.MaxBatchTokens"/> padded tokens. Tokenisation happens on the callers' threads, in
/// parallel; one worker owns the model buffers and runs the calls.
/// </summary>
internal sealed class EmbeddingBatcher : IAsyncDisposable
{
    private readonly OnnxEmbeddingModel _model;
    private readonly Channel<Request> _queue;
    private readonly long _windowTicks;
    private readonly int _maxBatchSize;
    private readonly int _maxBatchTokens;
    private readonly Task _worker;
    private readonly BatchBuffers _buffers = new();
    private readonly List<Request> _pending;
    private readonly int[][] _chunkIds;
    private float[] _vectors;
    private int _arriving;
    private int _inFlight;
    private int _concurrency = 1;
    private long _lastBatchEnd;
    private long _batches;
    private long _embedded;

    public EmbeddingBatcher(OnnxEmbeddingModel model, EmbeddingOptions options)
    {
        _model = model;
        _windowTicks = (long)(options.BatchWindow.TotalSeconds * Stopwatch.Frequency);
        _maxBatchSize = options.MaxBatchSize;
        _maxBatchTokens = options.MaxBatchTokens;
        _pending = new List<Request>(_maxBatchSize);
        _chunkIds = new int[_maxBatchSize][];
        _vectors = new float[_maxBatchSize * model.Dimension];
        _queue = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });
        _worker = Task.Run(RunAsync);
    }

    /// <summary>Model calls made so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Texts embedded so far.</summary>
    public long Embedded => Interlocked.Read(ref _embedded);

    /// <summary>Marks a caller as on its way (tokenising); the worker waits for such callers within the window.</summary>
    public void BeginArrival()
    {
        Interlocked.Increment(ref _arriving);
        Interlocked.Increment(ref _inFlight);
    }

    /// <summary>Queues a tokenised text; the caller must have called <see cref="BeginArrival"/> first.</summary>
    public Task<EmbeddingResult> Enqueue(TokenizedText tokens, CancellationToken cancellationToken)
    {
        var request = new Request(tokens, Stopwatch.GetTimestamp());
        if (cancellationToken.CanBeCanceled)
        {
            request.Registration = cancellationToken.UnsafeRegister(static (state, token) => ((Request)state!).Completion.TrySetCanceled(token), request);
        }

        bool written = _queue.Writer.TryWrite(request);
        Interlocked.Decrement(ref _arriving);
        if (!written)
        {
            Interlocked.Decrement(ref _inFlight);
            request.Registration.Dispose();
            throw new ObjectDisposedException(nameof(TextEmbedder), "The embedder is shut down.");
        }

        return request.Completion.Task;
    }

    /// <summary>Undoes <see cref="BeginArrival"/> for a caller that failed before queueing.</summary>
    public void AbandonArrival()
    {
        Interlocked.Decrement(ref _arriving);
        Interlocked.Decrement(ref _inFlight);
    }

    private async Task RunAsync()
    {
        ChannelReader<Request> reader = _queue.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            Collect(reader);
            Execute();
        }
    }

    private void Collect(ChannelReader<Request> reader)
    {
        List<Request> pending = _pending;
        while (pending.Count < _maxBatchSize && reader.TryRead(out Request? request))
        {
            pending.Add(request);
        }

        if (_windowTicks == 0 || pending.Count == 0)
        {
            return;
        }

        // Wait for more only while it is likely to pay: someone is tokenising right now, or fewer requests are here
        // than callers were active when the last batch finished (they come back for their next request within
        // microseconds). A lone caller is never held back; nobody waits more than the window once the worker is free
        // (counted from the first request's arrival, or from the end of the previous batch if that came later, so the
        // callers it just answered can join the next batch instead of splitting the load into two half batches).
        long deadline = Math.Max(pending[0].Arrival, _lastBatchEnd) + _windowTicks;
        int expected = Math.Min(_concurrency, _maxBatchSize);
        var spinner = default(SpinWait);
        while (pending.Count < _maxBatchSize && Stopwatch.GetTimestamp() < deadline)
        {
            if (reader.TryRead(out Request? request))
            {
                pending.Add(request);
                continue;
            }

            if (Volatile.Read(ref _arriving) == 0 && pending.Count >= expected)
            {
                break;
            }

            spinner.SpinOnce(sleep1Threshold: -1);
        }
    }

    private void Execute()
    {
        List<Request> pending = _pending;

        // Shortest first: neighbours in a chunk have similar lengths, so padding stays small.
        pending.Sort(static (a, b) => a.Tokens.Ids.Length.CompareTo(b.Tokens.Ids.Length));
        int start = 0;
        while (start < pending.Count)
        {
            int count = 0;
            for (int i = start; i < pending.Count && count < _maxBatchSize; i++)
            {
                // Sorted ascending, so the newest member is the longest and sets the padded width.
                int width = pending[i].Tokens.Ids.Length;
                if (count > 0 && (long)(count + 1) * width > _maxBatchTokens)
                {
                    break;
                }

                count++;
            }

            RunChunk(start, count);
            start += count;
        }

        pending.Clear();
        _lastBatchEnd = Stopwatch.GetTimestamp();
    }

    private void RunChunk(int start, int count)
    {
        int live = 0;
        for (int i = start; i < start + count; i++)
        {
            Request request = _pending[i];
            if (request.Completion.Task.IsCompleted)
            {
                Interlocked.Decrement(ref _inFlight);
                continue; // Cancelled while queued: no model time spent on it.
            }

            _chunkIds[live] = request.Tokens.Ids;
            _pending[start + live] = request;
            live++;
        }

        if (live == 0)
        {
            return;
        }

        int dimension = _model.Dimension;
        if (_vectors.Length < live * dimension)
        {
            _vectors = new float[live * dimension];
        }

        try
        {
            _model.Run(_chunkIds.AsSpan(0, live), _buffers, _vectors);
        }
#pragma warning disable CA1031 // A failed call fails its requests, never the worker.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Interlocked.Add(ref _inFlight, -live);
            for (int i = 0; i < live; i++)
            {
                _pending[start + i].Fail(e);
            }

            return;
        }
        finally
        {
            Array.Clear(_chunkIds, 0, live);
        }

        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _embedded, live);
        // Everyone still waiting (queued or tokenising) plus this chunk: how many callers are active.
        _concurrency = Math.Max(1, Volatile.Read(ref _inFlight));
        Interlocked.Add(ref _inFlight, -live);
        for (int i = 0; i < live; i++)
        {
            Request request = _pending[start + i];
            float[] vector = _vectors.AsSpan(i * dimension, dimension).ToArray();
            request.Complete(new EmbeddingResult(vector, request.Tokens.Ids.Length, request.Tokens.Truncated));
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _worker.ConfigureAwait(false);
        while (_queue.Reader.TryRead(out Request? request))
        {
            Interlocked.Decrement(ref _inFlight);
            request.Fail(new ObjectDisposedException(nameof(TextEmbedder), "The embedder shut down before this request ran."));
        }
    }

    private sealed class Request(TokenizedText tokens, long arrival)
    {
        public TokenizedText Tokens { get; } = tokens;

        public long Arrival { get; } = arrival;

        public CancellationTokenRegistration Registration { get; set; }

        // Continuations run on the thread pool, never inline on the worker, which must go back to batching.
        public TaskCompletionSource<EmbeddingResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Complete(EmbeddingResult result)
        {
            Completion.TrySetResult(result);
            Registration.Dispose();
        }

        public void Fail(Exception e)
        {
            Completion.TrySetException(e);
            Registration.Dispose();
        }
    }
}
