using SemCache.LoadTool.Data;

namespace SemCache.LoadTool.Commands;

/// <summary>
/// texts: writes the side-by-side run's text files from a pair file (stored.txt, queries.txt, bulk.txt, mixed.txt; one
/// normalised text a line), so the server's workloads and the transformers.js peer read the very same texts.
/// </summary>
internal static class TextsCommand
{
    public static int Run(IReadOnlyList<string> args)
    {
        Flags flags = Flags.Parse(args);
        string path = flags.String("pairs") ?? DataFiles.Default(DataFiles.QqpDev);
        string outDirectory = flags.String("out") ?? throw new UsageException("texts needs --out DIR");
        int stored = flags.Int("stored", 2000);
        int queries = flags.Int("queries", 10_000);
        int bulk = flags.Int("bulk", 20_000);
        flags.ThrowOnUnused();
        if (stored < 1 || queries < 1 || bulk < 1)
        {
            throw new UsageException("--stored, --queries and --bulk must be at least 1");
        }

        TextSets sets = TextSets.Split(PairFile.Load(path), stored, queries, bulk);
        if (sets.Stored.Count < stored || sets.Queries.Count < queries || sets.Bulk.Count < bulk)
        {
            throw new UsageException($"{path} has too few distinct questions: {sets.Stored.Count:N0} stored, {sets.Queries.Count:N0} queries, {sets.Bulk.Count:N0} bulk");
        }

        Directory.CreateDirectory(outDirectory);
        foreach ((string name, IReadOnlyList<string> texts) in new[] { ("stored.txt", sets.Stored), ("queries.txt", sets.Queries), ("bulk.txt", sets.Bulk), ("mixed.txt", sets.Mixed) })
        {
            File.WriteAllLines(Path.Combine(outDirectory, name), texts);
            Console.WriteLine($"{texts.Count,7:N0} {Path.Combine(outDirectory, name)}");
        }

        return 0;
    }
}
