using System.Globalization;
using System.Text;
using SemCache.LoadTool.Data;
using SemCache.LoadTool.Quality;

namespace SemCache.LoadTool.Reports;

/// <summary>
/// lookups.tsv: one line per labelled lookup (file line, label, nearest similarity, whether it was the row's own q1,
/// whether it had the query's exact text), so any threshold rule can be recomputed later without the server.
/// </summary>
internal static class LookupLog
{
    public static void Write(string path, IReadOnlyList<LabelledPair> pairs, IReadOnlyList<ScoredQuery> scored)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentNullException.ThrowIfNull(scored);
        var text = new StringBuilder("line\tlabel\tsimilarity\tmatched_own_q1\tmatched_identical_text\n");
        for (int i = 0; i < pairs.Count; i++)
        {
            ScoredQuery query = scored[i];
            text.Append(CultureInfo.InvariantCulture, $"{pairs[i].LineNumber}\t{pairs[i].Label}\t{(query.Similarity is float s ? s.ToString("R", CultureInfo.InvariantCulture) : string.Empty)}\t{(query.MatchedExpected ? 1 : 0)}\t{(query.MatchedIdenticalText ? 1 : 0)}\n");
        }

        File.WriteAllText(path, text.ToString());
    }
}
