namespace SemCache.LoadTool.Data;

/// <summary>
/// The texts of the side-by-side run, cut from one labelled pair file so that the server and the peers see the same
/// words: <see cref="Stored"/> (q1s, preloaded), <see cref="Queries"/> (questions never stored, each sent once: the
/// q2s first, then other rows' questions), <see cref="Bulk"/> (the SetMany load) and <see cref="Mixed"/> (the rest,
/// for the mixed-load steps). Every text is in the server's normal form and appears in one set only, so a Get of a
/// query can never be an exact hit and no text is embedded twice by the server.
/// </summary>
internal sealed record TextSets(IReadOnlyList<string> Stored, IReadOnlyList<string> Queries, IReadOnlyList<string> Bulk, IReadOnlyList<string> Mixed)
{
    /// <summary>Cuts the sets in file order; a set gets fewer texts than asked when the file runs out.</summary>
    public static TextSets Split(IReadOnlyList<LabelledPair> pairs, int stored, int queries, int bulk)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentOutOfRangeException.ThrowIfNegative(stored);
        ArgumentOutOfRangeException.ThrowIfNegative(queries);
        ArgumentOutOfRangeException.ThrowIfNegative(bulk);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var storedTexts = new List<string>(stored);
        var others = new List<string>();
        foreach (LabelledPair pair in pairs)
        {
            string first = PromptNormalizer.Normalize(pair.First);
            if (storedTexts.Count < stored)
            {
                if (seen.Add(first))
                {
                    storedTexts.Add(first);
                }
            }
            else if (seen.Add(first))
            {
                others.Add(first);
            }

            string second = PromptNormalizer.Normalize(pair.Second);
            if (seen.Add(second))
            {
                others.Add(second);
            }
        }

        // A q2 met before its row's q1 could be stored is already taken out by `seen`, so no query equals a stored text.
        int queryCount = Math.Min(queries, others.Count);
        int bulkCount = Math.Min(bulk, others.Count - queryCount);
        return new TextSets(
            storedTexts,
            others.GetRange(0, queryCount),
            others.GetRange(queryCount, bulkCount),
            others.GetRange(queryCount + bulkCount, others.Count - queryCount - bulkCount));
    }

    /// <summary>Lines of a texts file (one normalised text a line, as <c>semcache-bench texts</c> writes them).</summary>
    public static IReadOnlyList<string> ReadFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"texts file not found: {path} (write it with semcache-bench texts)", path);
        }

        return [.. File.ReadLines(path).Where(l => l.Length > 0)];
    }

    /// <summary>Texts [offset, offset + count) of a file: one workload's slice, never shared with another workload.</summary>
    public static IReadOnlyList<string> Slice(IReadOnlyList<string> texts, int offset, int? count, string file)
    {
        ArgumentNullException.ThrowIfNull(texts);
        int take = count ?? (texts.Count - offset);
        if (offset < 0 || take < 1 || offset + take > texts.Count)
        {
            throw new UsageException($"{file} has {texts.Count:N0} texts: --offset {offset} --count {take} does not fit (write more with semcache-bench texts)");
        }

        return texts is List<string> list ? list.GetRange(offset, take) : [.. texts.Skip(offset).Take(take)];
    }
}
