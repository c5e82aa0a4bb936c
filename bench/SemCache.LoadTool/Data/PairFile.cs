using System.Globalization;

namespace SemCache.LoadTool.Data;

/// <summary>One row of a labelled pair file: two texts and whether they ask the same thing.</summary>
/// <param name="Label">1 when the two texts are duplicates (the same question), 0 otherwise.</param>
/// <param name="First">The text that is stored in the cache (q1).</param>
/// <param name="Second">The text that is looked up (q2).</param>
/// <param name="LineNumber">1-based line in the file, for error messages.</param>
internal sealed record LabelledPair(int Label, string First, string Second, int LineNumber)
{
    public bool IsDuplicate => Label == 1;
}

/// <summary>
/// Reads labelled pair files in the format of ../shared/data/qqp-dev.tsv: <c>label&lt;TAB&gt;q1&lt;TAB&gt;q2</c>, one pair
/// a line, with an optional header line (any first line whose label field is not a number). Blank lines are skipped;
/// a malformed line is an error naming its line number, because a silently skipped row would change every count.
/// </summary>
internal static class PairFile
{
    public static IReadOnlyList<LabelledPair> Load(string path, int? limit = null)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"pair file not found: {path}", path);
        }

        return Parse(File.ReadLines(path), limit);
    }

    /// <param name="lines">The file's lines.</param>
    /// <param name="limit">Keep only the first N data rows (in file order); null keeps all.</param>
    public static IReadOnlyList<LabelledPair> Parse(IEnumerable<string> lines, int? limit = null)
    {
        ArgumentNullException.ThrowIfNull(lines);
        if (limit is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(limit), "limit must not be negative");
        }

        var pairs = new List<LabelledPair>();
        int lineNumber = 0;
        foreach (string raw in lines)
        {
            lineNumber++;
            if (limit is not null && pairs.Count >= limit)
            {
                break;
            }

            string line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                continue;
            }

            string[] fields = line.Split('\t');
            if (lineNumber == 1 && fields.Length >= 1 && !int.TryParse(fields[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
            {
                continue; // header
            }

            if (fields.Length != 3)
            {
                throw new FormatException($"line {lineNumber}: expected 3 tab-separated fields (label, q1, q2), found {fields.Length}");
            }

            if (fields[0] is not ("0" or "1"))
            {
                throw new FormatException($"line {lineNumber}: label must be 0 or 1, found '{fields[0]}'");
            }

            if (string.IsNullOrWhiteSpace(fields[1]) || string.IsNullOrWhiteSpace(fields[2]))
            {
                throw new FormatException($"line {lineNumber}: q1 and q2 must not be empty");
            }

            pairs.Add(new LabelledPair(fields[0] == "1" ? 1 : 0, fields[1], fields[2], lineNumber));
        }

        return pairs;
    }
}
