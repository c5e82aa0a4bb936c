using System.Diagnostics;

namespace SemCache.Testing;

/// <summary>
/// A tmpfs of a given size mounted on a temporary directory (a real file system that fills up), unmounted on dispose.
/// <see cref="TryCreate"/> returns null where mounting is not permitted (not Linux, not root): tests skip then.
/// </summary>
internal sealed class TmpfsMount : IDisposable
{
    private TmpfsMount(string path) => Path = path;

    public string Path { get; }

    public static TmpfsMount? TryCreate(int megabytes)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "semcache-tmpfs-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        if (Run("mount", "-t", "tmpfs", "-o", $"size={megabytes}m", "tmpfs", path) != 0)
        {
            Directory.Delete(path);
            return null;
        }

        return new TmpfsMount(path);
    }

    public void Dispose()
    {
        Run("umount", "-l", Path);
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static int Run(string file, params string[] args)
    {
        try
        {
            var start = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (string a in args)
            {
                start.ArgumentList.Add(a);
            }

            using var process = Process.Start(start)!;
            process.WaitForExit();
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1;
        }
    }
}
