namespace SemCache.CacheServer.Configuration;

/// <summary>
/// Holds back the host's error reports until the server has started: a start-up failure reaches the operator once,
/// as Program's one line, not as a logged stack trace before it. With <c>--verbose</c>, or once started, all pass.
/// </summary>
internal sealed class StartupLogGate(bool verbose)
{
    private volatile bool _started;

    public void Started() => _started = true;

    public bool Allows(LogLevel level) => level >= LogLevel.Information && (verbose || _started || level < LogLevel.Error);
}
