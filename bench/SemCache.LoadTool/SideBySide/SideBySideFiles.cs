using System.Globalization;
using System.Text.Json;

namespace SemCache.LoadTool.SideBySide;

/// <summary>
/// The layout of a side-by-side run's folder, which bench/side-by-side.sh writes and <c>side-by-side-report</c> reads:
/// <c>run.txt</c> (key: value lines), <c>skipped.txt</c> (a peer or step not run, and why), <c>preload/</c>,
/// <c>rounds/rN/{gets-1,gets-32,embed-1,bulk}/result.json</c> and <c>rounds/rN/peer-{lone,batch32,bulk}.json</c>,
/// <c>exact/rN/cC/{h2load.txt,redis.csv,stats-before.json,stats-after.json}</c>, <c>knee/result.json</c>.
/// </summary>
internal sealed class SideBySideFiles(string root)
{
    public string Root { get; } = Path.GetFullPath(root);

    public List<string> Notes { get; } = [];

    public IEnumerable<string> Rounds => Directory.Exists(Path.Combine(Root, "rounds"))
        ? Directory.EnumerateDirectories(Path.Combine(Root, "rounds")).Order(StringComparer.Ordinal)
        : [];

    public IReadOnlyDictionary<string, string> RunInfo() => ReadKeyValues(Path.Combine(Root, "run.txt"));

    public IReadOnlyList<string> Skipped()
    {
        string path = Path.Combine(Root, "skipped.txt");
        return File.Exists(path) ? [.. File.ReadAllLines(path).Where(l => l.Length > 0)] : [];
    }

    /// <summary>
    /// A number at a JSON path (e.g. load.latency.p50Us) of each round's rounds/rN/<paramref name="file"/>, for the
    /// rounds that have the file (the bulk load runs in the first only); a note when no round has it.
    /// </summary>
    public List<double> FromRounds(string file, params string[] path)
    {
        var values = new List<double>();
        foreach (string round in Rounds.Where(r => File.Exists(Path.Combine(r, file))))
        {
            if (Number(Path.Combine(round, file), path) is double value)
            {
                values.Add(value);
            }
        }

        if (values.Count == 0)
        {
            Notes.Add($"missing: rounds/rN/{file}");
        }

        return values;
    }

    /// <summary>A number at a JSON path, or null (with a note) when the file or the value is missing.</summary>
    public double? Number(string file, params string[] path)
    {
        if (!File.Exists(file))
        {
            Notes.Add($"missing: {Path.GetRelativePath(Root, file)}");
            return null;
        }

        using JsonDocument document = JsonDocument.Parse(File.ReadAllText(file));
        JsonElement element = document.RootElement;
        foreach (string name in path)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(name, out element))
            {
                Notes.Add($"{Path.GetRelativePath(Root, file)} has no {string.Join('.', path)}");
                return null;
            }
        }

        return element.ValueKind switch
        {
            JsonValueKind.Number => element.GetDouble(),
            // protobuf JSON writes 64-bit integers as strings
            JsonValueKind.String when double.TryParse(element.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) => v,
            _ => null,
        };
    }

    private static Dictionary<string, string> ReadKeyValues(string path)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        if (File.Exists(path))
        {
            foreach (string line in File.ReadAllLines(path))
            {
                int colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0)
                {
                    values[line[..colon].Trim()] = line[(colon + 1)..].Trim();
                }
            }
        }

        return values;
    }
}
