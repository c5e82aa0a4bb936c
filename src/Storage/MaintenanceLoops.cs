using Microsoft.Extensions.Logging;

namespace SemCache.Storage;

/// <summary>The store's periodic maintenance: checkpoints (with compaction) and expiry sweeps, until stopped.</summary>
internal static class MaintenanceLoops
{
    /// <summary>
    /// A checkpoint every <see cref="EntryStoreOptions.CheckpointInterval"/> (none while the store cannot write: a
    /// checkpoint writes the hybrid log, and on a full disk FASTER's flush would fail and never finish), compacting the
    /// hybrid log first when it has grown past <see cref="EntryStoreOptions.LogCompactionRatio"/> times the live bytes.
    /// </summary>
    public static async Task RunCheckpointsAsync(EntryStoreOptions options, StoreHealthMonitor health, RecordLog records, Func<long> liveBytes, Func<CancellationToken, Task<long>> compact, Func<CancellationToken, Task<CheckpointInfo>> checkpoint, ILogger logger, CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(options.CheckpointInterval);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (!await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
                {
                    break;
                }

                if (!health.Writable)
                {
                    // A checkpoint writes the hybrid log; on a full disk FASTER's flush would fail and never finish.
                    continue;
                }

                if (options.LogCompactionRatio > 0)
                {
                    var span = records.TailAddress - records.BeginAddress;
                    if (span > 64L << 20 && span > options.LogCompactionRatio * liveBytes() && await compact(stopping).ConfigureAwait(false) > 0)
                    {
                        // FASTER's next checkpoint deletes the segments before the new begin address, which the older
                        // retained checkpoint still points into; a second checkpoint makes both retained ones post-compaction.
                        await checkpoint(stopping).ConfigureAwait(false);
                    }
                }

                await checkpoint(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (Exception ex)
            {
                Log.BackgroundFailure(logger, ex, "checkpoint");
            }
        }
    }

    /// <summary>Removes expired entries every <see cref="EntryStoreOptions.SweepInterval"/>.</summary>
    public static async Task RunSweepsAsync(TimeSpan interval, TimeProvider time, Func<int> sweep, ILogger logger, CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(interval, time);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (!await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
                {
                    break;
                }

                sweep();
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (Exception ex)
            {
                Log.BackgroundFailure(logger, ex, "expiry sweep");
            }
        }
    }
}
