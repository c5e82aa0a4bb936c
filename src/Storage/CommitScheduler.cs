using System.Diagnostics;
using FASTER.core;
using Microsoft.Extensions.Logging;

namespace SemCache.Storage;

/// <summary>
/// When the write-ahead log is committed, and what a write waits for: Strict mode's group commit (the writer that
/// completes the expected batch commits for all of it, a fallback loop commits a batch that does not fill up within
/// 2 ms), Periodic mode's interval commits with backpressure, and the retry that makes a store that could not write
/// writable again (<see cref="StoreHealthMonitor"/>).
/// </summary>
#pragma warning disable CA1001 // The semaphores never create a wait handle, so they hold nothing to release; disposing them while a
// commit completion may still signal one would turn that completion into an ObjectDisposedException.
internal sealed class CommitScheduler
#pragma warning restore CA1001
{
    private readonly FasterLog _wal;
    private readonly EntryStoreOptions _options;
    private readonly StoreHealthMonitor _health;
    private readonly ILogger _logger;
    private readonly Action _healed;
    private readonly CancellationToken _stopping;
    private readonly SemaphoreSlim _commitSignal = new(0, int.MaxValue);
    private readonly SemaphoreSlim _unwritableSignal = new(0, int.MaxValue);
    private long _commits;
    private long _periodicBackpressureAddress;
    private int _pendingArrivals;
    private int _expectedBatch = 1;
    private int _commitInFlight;

    /// <param name="wal">The open write-ahead log.</param>
    /// <param name="options">Durability mode and commit interval.</param>
    /// <param name="health">Told of every failed commit.</param>
    /// <param name="logger">Logger.</param>
    /// <param name="healed">Called after a retried commit made the store writable again (the store takes a checkpoint).</param>
    /// <param name="stopping">Stops the loops.</param>
    public CommitScheduler(FasterLog wal, EntryStoreOptions options, StoreHealthMonitor health, ILogger logger, Action healed, CancellationToken stopping)
    {
        _wal = wal;
        _options = options;
        _health = health;
        _logger = logger;
        _healed = healed;
        _stopping = stopping;
    }

    /// <summary>Told how long each completed commit took (issue to durable); may be null.</summary>
    public Action<TimeSpan>? Committed { get; init; }

    /// <summary>Commits issued so far.</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>The store became not writable: start retrying.</summary>
    public void SignalUnwritable() => _unwritableSignal.Release();

    /// <summary>Waits until a write up to <paramref name="walEnd"/> is durable as the mode promises.</summary>
    public ValueTask WaitForDurabilityAsync(long walEnd, CancellationToken cancellationToken)
    {
        if (_options.Durability == DurabilityMode.Periodic && _wal is { } wal)
        {
            // Backpressure: the commit issued one interval ago covering this address has not completed yet.
            var behind = Volatile.Read(ref _periodicBackpressureAddress);
            if (wal.CommittedUntilAddress < behind)
            {
                return _health.ObserveAsync(wal.WaitForCommitAsync(behind, 0, cancellationToken), behind);
            }

            return default;
        }

        if (_options.Durability == DurabilityMode.Strict)
        {
            return _health.ObserveAsync(WaitForCommitAsync(walEnd, cancellationToken), walEnd);
        }

        return default;
    }

    private ValueTask WaitForCommitAsync(long untilAddress, CancellationToken cancellationToken)
    {
        var wal = _wal;
        if (wal.CommittedUntilAddress >= untilAddress)
        {
            return default;
        }

        // Group commit. The writer that completes the expected batch issues the commit itself, inline: no hand-off to
        // another thread, whose scheduling delay would add to every Set's latency. A batch that does not fill up is
        // committed by the fallback loop after at most MaxGather.
        var arrived = Interlocked.Increment(ref _pendingArrivals);
        if (arrived >= Volatile.Read(ref _expectedBatch))
        {
            TryIssueCommit();
        }
        else if (arrived == 1)
        {
            _commitSignal.Release();
        }

        return wal.WaitForCommitAsync(untilAddress, 0, cancellationToken);
    }

    /// <summary>Issues a commit for everything appended so far, unless one is being written (then its completion will).</summary>
    private void TryIssueCommit()
    {
        var wal = _wal;
        if (Interlocked.CompareExchange(ref _commitInFlight, 1, 0) != 0)
        {
            return;
        }

        var batch = Interlocked.Exchange(ref _pendingArrivals, 0);
        if (batch == 0)
        {
            // Nothing to commit; but a writer may have arrived after the exchange above and found the commit taken:
            // release with a full fence, then hand any such writer to the fallback loop.
            Interlocked.Exchange(ref _commitInFlight, 0);
            if (Volatile.Read(ref _pendingArrivals) > 0)
            {
                _commitSignal.Release();
            }

            return;
        }

        // Expect the writers of this batch back for the next one: a steady set of N writers then shares every commit,
        // instead of the ones released by a commit arriving just after the next was issued and waiting two commits.
        Volatile.Write(ref _expectedBatch, batch);
        _ = CommitBatchAsync(wal);
    }

    private async Task CommitBatchAsync(FasterLog wal)
    {
        try
        {
            var target = wal.TailAddress;
            long issued = Stopwatch.GetTimestamp();
            wal.Commit(spinWait: false);
            Interlocked.Increment(ref _commits); // counted when issued, so a writer released by it sees it counted
            await wal.WaitForCommitAsync(target, 0, CancellationToken.None).ConfigureAwait(false);
            Committed?.Invoke(Stopwatch.GetElapsedTime(issued));
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not ObjectDisposedException)
        {
            OnCommitFailed(ex, wal);
        }
        finally
        {
            // A full fence, not a release write: the read of _pendingArrivals below must not move before it. A writer
            // increments _pendingArrivals, then tries to take _commitInFlight; with a plain store here the two sides
            // could each miss the other (store-load reordering), the writer finding a commit in flight and this
            // completion finding no writer, and a lone strict writer would wait forever.
            Interlocked.Exchange(ref _commitInFlight, 0);
        }

        // Writers that arrived while this commit was written: commit them now if the batch is complete; otherwise the
        // remaining writers' arrivals or the fallback loop will.
        var pending = Volatile.Read(ref _pendingArrivals);
        if (pending > 0 && pending >= Volatile.Read(ref _expectedBatch))
        {
            TryIssueCommit();
        }
        else if (pending > 0)
        {
            _commitSignal.Release();
        }
    }

    /// <summary>
    /// Strict mode's fallback committer: when a batch has not filled up (fewer writers than last time), it commits what
    /// is there after at most <see cref="MaxGather"/>, and lowers the expected batch size to what actually came.
    /// </summary>
    public async Task RunGroupCommitAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await _commitSignal.WaitAsync(stopping).ConfigureAwait(false);
                await Task.Delay(MaxGather, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            while (_commitSignal.Wait(0, CancellationToken.None))
            {
            }

            if (Volatile.Read(ref _pendingArrivals) > 0)
            {
                Volatile.Write(ref _expectedBatch, Math.Max(1, Volatile.Read(ref _pendingArrivals)));
                TryIssueCommit();
                if (Volatile.Read(ref _pendingArrivals) > 0)
                {
                    _commitSignal.Release(); // a commit was in flight: look again after another gather period
                }
            }
        }
    }

    /// <summary>Longest a Strict commit waits for more writers to join it.</summary>
    private static readonly TimeSpan MaxGather = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Periodic mode's committer: issues a commit every <see cref="EntryStoreOptions.CommitInterval"/> without waiting for
    /// it, and records the log tail it covers. If the commit issued one interval earlier has still not completed (the
    /// device is slower than the write rate), Sets wait for it — backpressure that keeps the loss window of a crash
    /// near one interval instead of letting it grow without bound.
    /// </summary>
    public async Task RunPeriodicCommitAsync(CancellationToken stopping)
    {
        var wal = _wal;
        using var timer = new PeriodicTimer(_options.CommitInterval);
        long previousTarget = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                Volatile.Write(ref _periodicBackpressureAddress, previousTarget);
                var target = wal.TailAddress;
                if (wal.CommittedUntilAddress < target && _health.Writable)
                {
                    long issued = Stopwatch.GetTimestamp();
                    wal.Commit(spinWait: false);
                    Interlocked.Increment(ref _commits);
                    _ = ObservePeriodicCommitAsync(wal, target, issued);
                }

                previousTarget = target;
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            Log.BackgroundFailure(_logger, ex, "periodic commit");
        }
    }

    /// <summary>Periodic mode acknowledges before the commit, so a failed commit is noticed here and stops acknowledgements.</summary>
    private async Task ObservePeriodicCommitAsync(FasterLog wal, long target, long issued)
    {
        try
        {
            await wal.WaitForCommitAsync(target, 0, _stopping).ConfigureAwait(false);
            Committed?.Invoke(Stopwatch.GetElapsedTime(issued));
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            // The store is closing: the final checkpoint and commit take over (this task is never awaited).
        }
        catch (Exception ex)
        {
            OnCommitFailed(ex, wal);
        }
    }

    /// <summary>A commit failed: refuse writes from now on and start the retry loop.</summary>
    private void OnCommitFailed(Exception failure, FasterLog wal) => _health.MarkFailed(failure, wal.CommittedUntilAddress, wal.TailAddress);

    /// <summary>How often a store that cannot write retries a commit.</summary>
    public TimeSpan HealthRetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// While the store is not writable, appends a probe record and commits it every <see cref="HealthRetryInterval"/>;
    /// the first commit that succeeds makes the store writable again and schedules a checkpoint, so that recovery need
    /// not replay across the failed range.
    /// </summary>
    public async Task RunHealthRetryAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await _unwritableSignal.WaitAsync(stopping).ConfigureAwait(false);
                while (!_health.Writable)
                {
                    await Task.Delay(HealthRetryInterval, stopping).ConfigureAwait(false);
                    if (await TryProbeCommitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false))
                    {
                        if (!_health.MarkHealthy())
                        {
                            break; // only a restart helps (the hybrid log failed)
                        }

                        Log.WritableAgain(_logger, _options.DataDirectory);
                        _healed();
                    }
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (Exception ex)
            {
                Log.BackgroundFailure(_logger, ex, "health retry");
            }
        }
    }

    /// <summary>Appends a probe record and waits for its commit; true when the device took it.</summary>
    public async Task<bool> TryProbeCommitAsync(TimeSpan timeout)
    {
        var wal = _wal;

        // No lock: a probe changes no entry, and replay skips it wherever it lands between operations.
        Span<byte> probe = stackalloc byte[WriteAheadLog.HeaderSize];
        probe.Clear();
        probe[0] = WriteAheadLog.Probe;
        wal.Enqueue(probe);
        var target = wal.TailAddress;

        try
        {
            wal.Commit(spinWait: false);
            await wal.WaitForCommitAsync(target, 0, CancellationToken.None).AsTask().WaitAsync(timeout).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not ObjectDisposedException)
        {
            _health.MarkFailed(ex, target, target);
            return false;
        }
    }
}
