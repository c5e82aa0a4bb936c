using System.Runtime.InteropServices;
using FASTER.core;

namespace SemCache.Storage;

/// <summary>
/// Whether the store's writes can be made durable. Turns not writable on the first failed write-ahead-log commit, and
/// refuses writes from then on (nothing is acknowledged that is not durable); the store's retry loop turns it back.
/// </summary>
/// <remarks>
/// FASTER's <see cref="FasterLog"/> runs with <see cref="FasterLogSettings.TolerateDeviceFailure"/>: a failed flush
/// faults the waiters of that commit and the log moves on past the failed range (without it, the first failure is
/// "canned" and every later enqueue or commit throws it until the process restarts). The failed range stays a hole on
/// disk: a write whose address lies in it is never acknowledged, even if a later commit passes it, and replay skips the
/// hole and reports what it held.
/// </remarks>
internal sealed class StoreHealthMonitor
{
    private readonly string _dataDirectory;
    private readonly Action<Exception, string> _becameUnwritable;
    private readonly Lock _gate = new();
    private StoreHealth _current = StoreHealth.Healthy;
    private bool _diskFull;
    private bool _needsRestart;
    private readonly List<(long From, long Until)> _holes = []; // one per episode: log ranges that may not be on disk

    /// <param name="dataDirectory">Named in every reason.</param>
    /// <param name="becameUnwritable">Called once per episode, on the transition to not writable (outside the monitor's lock).</param>
    public StoreHealthMonitor(string dataDirectory, Action<Exception, string> becameUnwritable)
    {
        _dataDirectory = dataDirectory;
        _becameUnwritable = becameUnwritable;
    }

    public StoreHealth Current => Volatile.Read(ref _current);

    public bool Writable => Volatile.Read(ref _current).Writable;

    /// <summary>True after a hybrid-log write failed: only a restart makes the store writable again.</summary>
    public bool NeedsRestart => Volatile.Read(ref _needsRestart);

    /// <summary>Fails fast while not writable.</summary>
    public void ThrowIfUnavailable()
    {
        var current = Volatile.Read(ref _current);
        if (!current.Writable)
        {
            throw new StoreUnavailableException(current.Reason!, Volatile.Read(ref _diskFull));
        }
    }

    /// <summary>
    /// Awaits a commit wait for a write that ends at <paramref name="address"/>; a failure turns the store not writable
    /// and surfaces as <see cref="StoreUnavailableException"/>, as does a wait that succeeded over a failed range.
    /// </summary>
    public ValueTask ObserveAsync(ValueTask commit, long address)
    {
        if (commit.IsCompletedSuccessfully)
        {
            ThrowIfSuspect(address);
            return default;
        }

        return ObserveSlowAsync(commit, address);
    }

    private async ValueTask ObserveSlowAsync(ValueTask commit, long address)
    {
        try
        {
            await commit.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not ObjectDisposedException)
        {
            var current = MarkFailed(ex, address, address);
            throw new StoreUnavailableException(current.Reason!, Volatile.Read(ref _diskFull));
        }

        ThrowIfSuspect(address);
    }

    private void ThrowIfSuspect(long address)
    {
        lock (_gate)
        {
            foreach (var (from, until) in _holes)
            {
                if (address > from && address <= until)
                {
                    throw new StoreUnavailableException(_current.Reason ?? $"The write-ahead-log range holding this write could not be written to {_dataDirectory}; it is not durable.", _diskFull);
                }
            }
        }
    }

    /// <summary>Records a failed commit or append; returns the new state. <paramref name="from"/>/<paramref name="until"/> bound the addresses it may have lost.</summary>
    public StoreHealth MarkFailed(Exception failure, long from, long until)
    {
        var (reason, diskFull) = Describe(failure);
        if (!diskFull && FreeBytes(_dataDirectory) is { } free && free < MinimumFreeBytes)
        {
            // FASTER's file device reports some failures without the OS error (code 0xFFFFFFFF); the file system says why.
            diskFull = true;
            reason = $"No space left on device ({free} bytes free; {reason})";
        }

        if (failure is CommitFailureException { LinkedCommitInfo.CommitInfo: var info })
        {
            from = Math.Min(from, info.FromAddress);
            until = Math.Max(until, info.UntilAddress);
        }

        StoreHealth state;
        bool transition;
        lock (_gate)
        {
            transition = _current.Writable;
            if (transition || _holes.Count == 0)
            {
                // A new episode: writes committed between episodes stay acknowledged.
                _holes.Add((from, until));
            }
            else
            {
                var last = _holes[^1];
                _holes[^1] = (Math.Min(last.From, from), Math.Max(last.Until, until));
            }

            _diskFull = diskFull;
            var since = transition ? DateTimeOffset.UtcNow : _current.Since;
            _current = state = new StoreHealth(false, $"The entry store in {_dataDirectory} cannot make writes durable: {reason}. Writes are refused until a retried commit succeeds (reads keep working).", since);
        }

        if (transition)
        {
            _becameUnwritable(failure, state.Reason!);
        }

        return state;
    }

    /// <summary>A retried commit succeeded past every failed range: writes are accepted again (unless only a restart can help).</summary>
    /// <returns>True when the store is writable again.</returns>
    public bool MarkHealthy()
    {
        lock (_gate)
        {
            if (_needsRestart)
            {
                return false;
            }

            _current = StoreHealth.Healthy;
            _diskFull = false;
            return true;
        }
    }

    /// <summary>
    /// A write of the hybrid log failed (<paramref name="errorCode"/> from the device): FASTER does not retry it, so the
    /// store stays not writable until it is restarted.
    /// </summary>
    public void MarkHybridLogFailed(uint errorCode)
    {
        var diskFull = errorCode is 28 or 112 or 39 || (FreeBytes(_dataDirectory) is { } free && free < MinimumFreeBytes);
        var text = diskFull ? "No space left on device" : errorCode == uint.MaxValue ? "an I/O error" : Marshal.GetPInvokeErrorMessage((int)errorCode);
        var reason = $"The entry store in {_dataDirectory} cannot write its hybrid log: {text} (device error {errorCode}). FASTER does not retry a failed page write: free space, then restart the process (acknowledged writes are in the write-ahead log). Reads keep working.";
        bool transition;
        lock (_gate)
        {
            _needsRestart = true;
            _diskFull = diskFull;
            transition = _current.Writable;
            _current = new StoreHealth(false, reason, transition ? DateTimeOffset.UtcNow : _current.Since);
        }

        if (transition)
        {
            _becameUnwritable(new IOException(reason), reason);
        }
    }

    /// <summary>Below this much free space a failed write is taken to be a full disk.</summary>
    private const long MinimumFreeBytes = 16L << 20;

    private static long? FreeBytes(string directory)
    {
        try
        {
            return new DriveInfo(directory).AvailableFreeSpace;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The OS reason of a device failure ("No space left on device") and whether it is a full disk.</summary>
    internal static (string Reason, bool DiskFull) Describe(Exception failure)
    {
        for (var ex = failure; ex is not null; ex = ex.InnerException)
        {
            if (ex is CommitFailureException)
            {
                // FASTER reports the low 16 bits of the IOException's HResult: the errno on Unix, the Win32 code on Windows.
                var code = ParseErrorCode(ex.Message);
                if (code > 0)
                {
                    var diskFull = code is 28 or 112 or 39; // ENOSPC, ERROR_DISK_FULL, ERROR_HANDLE_DISK_FULL
                    var text = diskFull ? "No space left on device" : Marshal.GetPInvokeErrorMessage(code);
                    return ($"{text} (error {code}; {ex.Message})", diskFull);
                }
            }

            if (ex is IOException io)
            {
                var code = io.HResult & 0xFFFF;
                return (io.Message, code is 28 or 112 or 39);
            }
        }

        return (failure.Message, false);
    }

    private static int ParseErrorCode(string message)
    {
        const string Marker = "error code ";
        var at = message.LastIndexOf(Marker, StringComparison.Ordinal);
        if (at < 0)
        {
            return 0;
        }

        var digits = message.AsSpan(at + Marker.Length);
        var n = 0;
        while (n < digits.Length && char.IsAsciiDigit(digits[n]))
        {
            n++;
        }

        return int.TryParse(digits[..n], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code) ? code : 0;
    }
}
