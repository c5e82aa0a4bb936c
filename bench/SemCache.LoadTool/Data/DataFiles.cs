namespace SemCache.LoadTool.Data;

/// <summary>Finds the shared evaluation data (../shared/data beside the repository) from wherever the tool runs.</summary>
internal static class DataFiles
{
    public const string QqpDev = "qqp-dev.tsv";
    public const string GptCacheParaphrases = "gptcache-mock-paraphrases.tsv";

    /// <summary>
    /// The path of <paramref name="fileName"/> in the first shared/data folder found beside the current directory or
    /// one of its parents (so the tool runs from the repository root, from bench/ or from CI's clone alike), or the
    /// conventional ../shared/data path when none exists (the caller then reports it as missing).
    /// </summary>
    public static string Default(string fileName)
    {
        for (DirectoryInfo? directory = new(Directory.GetCurrentDirectory()); directory is not null; directory = directory.Parent)
        {
            string candidate = Path.Combine(directory.FullName, "shared", "data", fileName);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return Path.Combine("..", "shared", "data", fileName);
    }
}
