using System.Globalization;

namespace SemCache.CacheServer.Tests;

internal static class Metrics
{
    /// <summary>One sample of a Prometheus text exposition: the metric's name, its labels and its value.</summary>
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    /// <summary>The samples of a Prometheus text exposition (labels in any order, as OpenTelemetry's exporter writes them).</summary>
    public static IReadOnlyList<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith('#'))
            {
                continue;
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            int brace = line.IndexOf('{', StringComparison.Ordinal);
            int end;
            string name;
            if (brace < 0)
            {
                end = line.IndexOf(' ', StringComparison.Ordinal);
                name = line[..end];
            }
            else
            {
                name = line[..brace];
                int i = brace + 1;
                while (line[i] != '}')
                {
                    int eq = line.IndexOf('=', i);
                    string key = line[i..eq];
                    int start = eq + 2;
                    var value = new System.Text.StringBuilder();
                    int j = start;
                    for (; line[j] != '"'; j++)
                    {
                        value.Append(line[j] == '\\' ? line[++j] : line[j]);
                    }

                    labels[key] = value.ToString();
                    i = j + 1;
                    if (line[i] == ',')
                    {
                        i++;
                    }
                }

                end = i + 1;
            }

            string[] rest = line[end..].Trim().Split(' ');
            double parsed = rest[0] switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(rest[0], CultureInfo.InvariantCulture),
            };
            samples.Add(new Sample(name, labels, parsed));
        }

        return samples;
    }

    /// <summary>The samples of one metric whose labels include all of <paramref name="labels"/>.</summary>
    public static IEnumerable<Sample> Find(IReadOnlyList<Sample> samples, string name, params (string Key, string Value)[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out string? v) && v == l.Value));

    /// <summary>The sum of those samples (0 when there are none).</summary>
    public static double Sum(IReadOnlyList<Sample> samples, string name, params (string Key, string Value)[] labels) =>
        Find(samples, name, labels).Sum(s => s.Value);
}
