using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;

namespace SemCache.Embedding;

/// <summary>
/// Coalesces concurrent embedding requests into few model calls, as text-embeddings-inference does: requests that
/// arrive while a batch is being formed (within <see cref="EmbeddingOptions.BatchWindow"/> of the first) run as one
/// batch, sorted by length and cut into model calls so that little is padded (a cut is made where the padding it saves
/// costs more than one more call, by <see cref="CallCostModel"/>'s measure of this machine), no call exceeding
/// <see cref="EmbeddingOptions.MaxBatchTokens"/> padded tokens. Tokenisation happens on the callers' threads, in
/// parallel; one worker owns the model buffers and runs the calls, and sleeps (never spins) while a batch forms.
/// </summary>
internal sealed class EmbeddingBatcher : IAsyncDisposable
{
    private readonly OnnxEmbeddingModel _model;
    private readonly Channel<Request> _queue;
    private readonly Channel<Request> _bulk;
    private readonly long _windowTicks;
    private readonly int _maxBatchSize;
    private readonly int _maxBatchTokens;
    private readonly Thread _worker;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly BatchBuffers _buffers = new();
    private readonly List<Request> _pending;
    private readonly int[][] _chunkIds;
    private readonly int[] _lengths;
    private readonly int[] _chunkEnds;
    private readonly CallCostModel _costs = new();
    private readonly ManualResetEventSlim _arrival = new(false, spinCount: 1);
    private readonly Histogram<int>? _batchSizes;
    private float[] _vectors;
    private int _workerWaiting;
    private int _arriving;
    private int _inFlight;
    private int _concurrency = 1;
    private long _lastBatchEnd;
    private long _batches;
    private long _embedded;

    public EmbeddingBatcher(OnnxEmbeddingModel model, EmbeddingOptions options, Histogram<int>? batchSizes = null)
    {
        _model = model;
        _batchSizes = batchSizes;
        _windowTicks = (long)(options.BatchWindow.TotalSeconds * Stopwatch.Frequency);
        _maxBatchSize = options.MaxBatchSize;
        _maxBatchTokens = options.MaxBatchTokens;
        _pending = new List<Request>(_maxBatchSize);
        _chunkIds = new int[_maxBatchSize][];
        _lengths = new int[_maxBatchSize];
        _chunkEnds = new int[_maxBatchSize];
        _vectors = new float[_maxBatchSize * model.Dimension];
        _queue = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });
        _bulk = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });
        // A thread of its own, not the pool's: model calls block for milliseconds, and the pool's threads are the
        // server's request threads.
        _worker = new Thread(Run) { IsBackground = true, Name = "semcache-embedding" };
        _worker.Start();
    }

    /// <summary>Model calls made so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Texts embedded so far.</summary>
    public long Embedded => Interlocked.Read(ref _embedded);

    /// <summary>The current estimate of one model call's fixed cost, in padded tokens (see <see cref="CallCostModel"/>).</summary>
    public double CallOverheadTokens => _costs.OverheadTokens;

    /// <summary>Marks a caller as on its way (tokenising); the worker waits for such callers within the window.</summary>
    public void BeginArrival()
    {
        Interlocked.Increment(ref _arriving);
        Interlocked.Increment(ref _inFlight);
    }

    /// <summary>
    /// Queues a tokenised text; the caller must have called <see cref="BeginArrival"/> first. Interactive requests go
    /// before bulk ones: a batch is filled from the interactive queue first, and bulk requests take the room left.
    /// </summary>
    public Task<EmbeddingResult> Enqueue(TokenizedText tokens, EmbeddingPriority priority, CancellationToken cancellationToken)
    {
        var request = new Request(tokens, Stopwatch.GetTimestamp());
        if (cancellationToken.CanBeCanceled)
        {
            request.Registration = cancellationToken.UnsafeRegister(static (state, token) => ((Request)state!).Completion.TrySetCanceled(token), request);
        }

        bool written = (priority == EmbeddingPriority.Bulk ? _bulk : _queue).Writer.TryWrite(request);
        Interlocked.Decrement(ref _arriving);
        if (!written)
        {
            Interlocked.Decrement(ref _inFlight);
            request.Registration.Dispose();
            throw new ObjectDisposedException(nameof(TextEmbedder), "The embedder is shut down.");
        }

        WakeWorker();
        return request.Completion.Task;
    }

    /// <summary>Undoes <see cref="BeginArrival"/> for a caller that failed before queueing.</summary>
    public void AbandonArrival()
    {
        Interlocked.Decrement(ref _arriving);
        Interlocked.Decrement(ref _inFlight);
        WakeWorker();
    }

    // The decrement of _arriving before this is a full fence, as is the worker's exchange of _workerWaiting before it
    // looks at the queue again: either the worker sees the new request, or this sees the worker waiting and wakes it.
    private void WakeWorker()
    {
        if (Volatile.Read(ref _workerWaiting) != 0)
        {
            _arrival.Set();
        }
    }

    private bool HasWork => _queue.Reader.TryPeek(out _) || _bulk.Reader.TryPeek(out _);

    // Completion is only reported once a queue is empty: everything queued before shutdown is run.
    private bool Stopped => _queue.Reader.Completion.IsCompleted && _bulk.Reader.Completion.IsCompleted;

    private void Run()
    {
        try
        {
            while (true)
            {
                if (HasWork)
                {
                    Collect();
                    Execute();
                    continue;
                }

                if (Stopped)
                {
                    return;
                }

                _arrival.Reset();
                Interlocked.Exchange(ref _workerWaiting, 1);
                if (!HasWork && !Stopped)
                {
                    _arrival.Wait();
                }

                Volatile.Write(ref _workerWaiting, 0);
            }
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    // Interactive requests first; bulk ones fill the room that is left.
    private bool TryTake(out Request? request) => _queue.Reader.TryRead(out request) || _bulk.Reader.TryRead(out request);

    private void Collect()
    {
        List<Request> pending = _pending;
        while (pending.Count < _maxBatchSize && TryTake(out Request? request))
        {
            pending.Add(request!);
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
        while (pending.Count < _maxBatchSize)
        {
            if (TryTake(out Request? request))
            {
                pending.Add(request!);
                continue;
            }

            long now = Stopwatch.GetTimestamp();
            if (now >= deadline || (Volatile.Read(ref _arriving) == 0 && pending.Count >= expected))
            {
                break;
            }

            // Sleep until a caller queues (or gives up), not spin: on a small machine the callers need this core to
            // get here. The wait is in whole milliseconds, so a caller that never comes costs at most one more.
            _arrival.Reset();
            Interlocked.Exchange(ref _workerWaiting, 1);
            if (HasWork || (Volatile.Read(ref _arriving) == 0 && pending.Count >= expected))
            {
                Volatile.Write(ref _workerWaiting, 0);
                continue;
            }

            int waitMs = (int)Math.Max(1, Math.Ceiling((deadline - now) * 1000.0 / Stopwatch.Frequency));
            _arrival.Wait(waitMs);
            Volatile.Write(ref _workerWaiting, 0);
        }
    }

    private void Execute()
    {
        List<Request> pending = _pending;

        // Shortest first, then cut into model calls where the padding saved outweighs another call's fixed cost.
        pending.Sort(static (a, b) => a.Tokens.Ids.Length.CompareTo(b.Tokens.Ids.Length));
        for (int i = 0; i < pending.Count; i++)
        {
            _lengths[i] = pending[i].Tokens.Ids.Length;
        }

        int chunks = PlanChunks(_lengths.AsSpan(0, pending.Count), _maxBatchSize, _maxBatchTokens, _costs.OverheadTokens, _chunkEnds);
        int start = 0;
        for (int c = 0; c < chunks; c++)
        {
            RunChunk(start, _chunkEnds[c] - start);
            start = _chunkEnds[c];
        }

        pending.Clear();
        _lastBatchEnd = Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// Cuts texts sorted by length (ascending) into consecutive model calls of least total cost, where a call costs
    /// <paramref name="overheadTokens"/> plus its padded tokens (texts × the longest), within the size and token limits.
    /// Writes each call's end index into <paramref name="ends"/> and returns the number of calls.
    /// </summary>
    internal static int PlanChunks(ReadOnlySpan<int> sortedLengths, int maxBatchSize, int maxBatchTokens, double overheadTokens, Span<int> ends)
    {
        int n = sortedLengths.Length;
        if (n == 0)
        {
            return 0;
        }

        // cost[j]: the cheapest plan for the first j texts; from[j]: where its last call starts.
        Span<double> cost = n <= 256 ? stackalloc double[n + 1] : new double[n + 1];
        Span<int> from = n <= 256 ? stackalloc int[n + 1] : new int[n + 1];
        cost[0] = 0;
        for (int j = 1; j <= n; j++)
        {
            int width = sortedLengths[j - 1];
            cost[j] = double.PositiveInfinity;
            for (int i = j - 1; i >= 0 && j - i <= maxBatchSize; i--)
            {
                int count = j - i;
                if (count > 1 && (long)count * width > maxBatchTokens)
                {
                    break;
                }

                double candidate = cost[i] + overheadTokens + ((double)count * width);
                if (candidate < cost[j])
                {
                    cost[j] = candidate;
                    from[j] = i;
                }
            }
        }

        int calls = 0;
        for (int j = n; j > 0; j = from[j])
        {
            calls++;
        }

        int k = calls;
        for (int j = n; j > 0; j = from[j])
        {
            ends[--k] = j;
        }

        return calls;
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

        long began = Stopwatch.GetTimestamp();
        int width = 0;
        for (int i = 0; i < live; i++)
        {
            width = Math.Max(width, _chunkIds[i].Length);
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

        long ended = Stopwatch.GetTimestamp();
        TimeSpan modelTime = Stopwatch.GetElapsedTime(began, ended);
        _costs.Observe(live * width, modelTime.TotalSeconds);
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _embedded, live);
        _batchSizes?.Record(live);
        // Everyone still waiting (queued or tokenising) plus this chunk: how many callers are active.
        _concurrency = Math.Max(1, Volatile.Read(ref _inFlight));
        Interlocked.Add(ref _inFlight, -live);
        for (int i = 0; i < live; i++)
        {
            Request request = _pending[start + i];
            float[] vector = _vectors.AsSpan(i * dimension, dimension).ToArray();
            request.Complete(new EmbeddingResult(vector, request.Tokens.Ids.Length, request.Tokens.Truncated)
            {
                QueueWait = Stopwatch.GetElapsedTime(request.Arrival, began),
                ModelTime = modelTime,
                BatchSize = live,
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        _bulk.Writer.TryComplete();
        _arrival.Set();
        await _stopped.Task.ConfigureAwait(false);
        _arrival.Dispose();
        while (TryTake(out Request? request))
        {
            Interlocked.Decrement(ref _inFlight);
            request!.Fail(new ObjectDisposedException(nameof(TextEmbedder), "The embedder shut down before this request ran."));
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
