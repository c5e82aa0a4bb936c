namespace SemCache.CacheServer.Configuration;

/// <summary>
/// The server cannot start, for a reason its operator can fix: the message is one line naming the option or path and
/// what would fix it. Program prints it alone (with the stack trace only under <c>--verbose</c>) and exits with
/// <see cref="ExitCode"/>: 1, or 2 for a command line that is wrong (an unknown flag, a flag without its value).
/// </summary>
public sealed class StartupException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StartupException()
    {
    }

    /// <summary>Creates the exception with its one-line message.</summary>
    public StartupException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its one-line message and the failure behind it.</summary>
    public StartupException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The process's exit code: 1 (cannot start), or 2 (the command line is wrong).</summary>
    public int ExitCode { get; init; } = 1;
}
