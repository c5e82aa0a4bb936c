using System.Globalization;

namespace SemCache.LoadTool;

/// <summary>
/// Command-line flags: <c>--name value</c>, <c>--name=value</c> and bare switches. Every flag a command does not read is
/// an error (<see cref="ThrowOnUnused"/>), so a mistyped flag never silently runs the default.
/// </summary>
internal sealed class Flags
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    private Flags()
    {
    }

    public List<string> Positionals { get; } = [];

    /// <param name="args">The arguments after the command name.</param>
    /// <param name="switches">Flags that take no value.</param>
    public static Flags Parse(IReadOnlyList<string> args, params string[] switches)
    {
        ArgumentNullException.ThrowIfNull(args);
        var flags = new Flags();
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                flags.Positionals.Add(arg);
                continue;
            }

            string name = arg[2..];
            string? value = null;
            int equals = name.IndexOf('=', StringComparison.Ordinal);
            if (equals >= 0)
            {
                value = name[(equals + 1)..];
                name = name[..equals];
            }
            else if (!switches.Contains(name))
            {
                if (i + 1 >= args.Count)
                {
                    throw new UsageException($"--{name} needs a value");
                }

                value = args[++i];
            }

            flags._values[name] = value;
        }

        return flags;
    }

    public bool Has(string name)
    {
        _used.Add(name);
        return _values.ContainsKey(name);
    }

    public bool Switch(string name) => Has(name);

    public string? String(string name) => Has(name) ? _values[name] : null;

    public string String(string name, string fallback) => String(name) ?? fallback;

    public int Int(string name, int fallback) => Parse(name, fallback, s => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture));

    public int? Int(string name) => Has(name) ? Int(name, 0) : null;

    public double Double(string name, double fallback) => Parse(name, fallback, s => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture));

    public double? Double(string name) => Has(name) ? Double(name, 0) : null;

    public void ThrowOnUnused()
    {
        string[] unknown = [.. _values.Keys.Where(k => !_used.Contains(k))];
        if (unknown.Length > 0)
        {
            throw new UsageException($"unknown flag(s) for this command: {string.Join(", ", unknown.Select(k => "--" + k))}");
        }
    }

    private T Parse<T>(string name, T fallback, Func<string, T> parse)
    {
        string? text = String(name);
        if (text is null)
        {
            return fallback;
        }

        try
        {
            return parse(text);
        }
        catch (FormatException)
        {
            throw new UsageException($"--{name}: '{text}' is not a valid {typeof(T).Name}");
        }
        catch (OverflowException)
        {
            throw new UsageException($"--{name}: '{text}' is out of range");
        }
    }
}

/// <summary>A command line the tool cannot run: printed with the usage, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message)
{
    public UsageException()
        : this("invalid command line")
    {
    }

    public UsageException(string message, Exception inner)
        : this(message + ": " + inner.Message)
    {
    }
}
