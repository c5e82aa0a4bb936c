namespace SemCache.CacheServer.Configuration;

/// <summary>
/// Checks the command line before it becomes configuration: the command-line source keeps any <c>--name value</c> as
/// a key, so a misspelt flag (<c>--durabilty strict</c>) would otherwise be ignored and the server start with the default.
/// </summary>
internal static class CommandLineCheck
{
    /// <summary>Sections a <c>--Section:Key value</c> flag may set: the server's own, and the host's logging.</summary>
    private static readonly string[] Sections = ["Server", "Cache", "Storage", "Index", "Embedding", "Observability", "Logging"];

    public static void ThrowIfInvalid(string[] args, IReadOnlyDictionary<string, string> flags, string verboseFlag)
    {
        var failures = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (arg == verboseFlag)
            {
                continue;
            }

            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                failures.Add(arg.StartsWith('-') || arg.StartsWith('/')
                    ? $"{arg} is not a flag ({Help(flags, verboseFlag)})"
                    : $"'{arg}' is a value without a flag before it ({Help(flags, verboseFlag)})");
                continue;
            }

            int equals = arg.IndexOf('=', StringComparison.Ordinal);
            string flag = equals < 0 ? arg : arg[..equals];
            if (equals < 0)
            {
                // Its value is the next argument; another flag there means the value was left out (--port --verbose
                // would otherwise set the port to "--verbose", or swallow the flag that follows).
                if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    failures.Add($"{flag} needs a value ({flag} VALUE or {flag}=VALUE)");
                }
                else
                {
                    i++;
                }
            }

            int colon = flag.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                if (!flags.ContainsKey(flag))
                {
                    failures.Add($"{flag} is not a flag ({Help(flags, verboseFlag)})");
                }
            }
            else if (!Sections.Contains(flag[2..colon], StringComparer.OrdinalIgnoreCase))
            {
                failures.Add($"{flag}: there is no section '{flag[2..colon]}' (sections: {string.Join(", ", Sections)})");
            }
        }

        if (failures.Count > 0)
        {
            throw new StartupException("invalid command line: " + string.Join("; ", failures) + " (--help lists every option)") { ExitCode = 2 };
        }
    }

    private static string Help(IReadOnlyDictionary<string, string> flags, string verboseFlag) =>
        $"flags: {string.Join(", ", flags.Keys)}, {verboseFlag}, --help, --version; or --Section:Key value for any option, e.g. --Storage:CommitInterval 00:00:00.050";
}
