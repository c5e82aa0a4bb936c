using SemCache.CacheServer.Configuration;

namespace SemCache.CacheServer.Tests;

/// <summary>Every option is declared once: the catalog covers the options classes, and the README's table is the catalog's.</summary>
public sealed class OptionCatalogTests
{
    [Fact]
    public void EveryOptionOfEverySectionIsInTheCatalogAndNothingElse()
    {
        var settable = OptionCatalog.Sections
            .SelectMany(s => OptionCatalog.Properties(s.Type).Keys.Select(name => $"{s.Section}:{name}"))
            .Order(StringComparer.Ordinal).ToList();
        var declared = OptionCatalog.All.Select(o => o.Key).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(settable, declared);
    }

    [Fact]
    public void DefaultsAreReadFromTheOptionsClasses()
    {
        string Default(string key) => OptionCatalog.All.Single(o => o.Key == key).Default;
        Assert.Equal("`50051`", Default("Server:Port"));
        Assert.Equal("`Periodic`", Default("Storage:Durability"));
        Assert.Equal("`00:00:00.1`", Default("Storage:CommitInterval"));
        Assert.Equal("`1.00:00:00`", Default("Storage:DefaultTtl"));
        Assert.Equal("`00:00:00.0003`", Default("Embedding:BatchWindow"));
        Assert.Equal("`0.9`", Default("Cache:DefaultThreshold"));
        Assert.Equal("`true`", Default("Embedding:Normalize"));
        Assert.Equal("`./data`", Default("Storage:DataDirectory"));
    }

    [Fact]
    public void FlagsMapToTheirKeys()
    {
        Assert.Equal("Server:Port", OptionCatalog.Flags["--port"]);
        Assert.Equal("Storage:Durability", OptionCatalog.Flags["--durability"]);
        Assert.Equal(11, OptionCatalog.Flags.Count);
    }

    [Fact]
    public void TheReadmeConfigurationTableIsTheGeneratedOne()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryFiles.Root, "README.md")).ReplaceLineEndings("\n");
        const string Begin = "<!-- options table: generated from src/CacheServer/Configuration/OptionCatalog.cs; a test keeps it so -->\n";
        const string End = "<!-- end of options table -->";
        int start = readme.IndexOf(Begin, StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md lacks the options table's start marker");
        start += Begin.Length;
        int end = readme.IndexOf(End, start, StringComparison.Ordinal);
        Assert.True(end >= 0, "README.md lacks the options table's end marker");
        string expected = OptionCatalog.MarkdownTable();
        Assert.True(expected == readme[start..end], "README.md's options table differs from OptionCatalog; replace it with:\n" + expected);
    }
}
