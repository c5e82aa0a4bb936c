namespace SemCache.Testing;

/// <summary>
/// The one fake clock of the test suites: a <see cref="TimeProvider"/> whose time moves only when a test says so, so TTLs
/// and expiry are tested without sleeping. Timers and delays are the system's (background loops keep running); only
/// the wall clock that TTLs are computed from is under the test's control. Thread-safe.
/// </summary>
public sealed class ManualClock : TimeProvider
{
    private long _nowMs = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(Interlocked.Read(ref _nowMs));

    public void Advance(TimeSpan by) => Interlocked.Add(ref _nowMs, (long)by.TotalMilliseconds);
}
