namespace SemCache.CacheServer.Tests;

/// <summary>Files of the repository the tests check against the code (README, deploy/, the dashboard).</summary>
internal static class RepositoryFiles
{
    /// <summary>The repository's root: the folder above the test binaries that holds SemCache.sln.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SemCache.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("SemCache.sln not found above " + AppContext.BaseDirectory);
    }
}
