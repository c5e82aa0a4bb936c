using System.Text.Json;

namespace SemCache.Cli.Tests;

public sealed class CommandTests(ServerFixture server)
{
    [Fact]
    public async Task RootHelpListsTheCommandsAndExitsZero()
    {
        CliRun help = await server.RunAsync("--help");

        Assert.Equal(0, help.ExitCode);
        foreach (string command in new[] { "get", "set", "delete", "stats", "embed", "import", "--address", "--json" })
        {
            Assert.Contains(command, help.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ImportHelpListsItsOptionsAndExitsZero()
    {
        CliRun help = await server.RunAsync("import", "--help");

        Assert.Equal(0, help.ExitCode);
        foreach (string option in new[] { "--ttl", "--batch-size", "--strict", "--format", "30 days" })
        {
            Assert.Contains(option, help.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AnUnknownFlagOrAMissingArgumentExitsTwo()
    {
        CliRun unknown = await server.RunAsync("get", "a prompt", "--no-such-flag");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("--no-such-flag", unknown.Stderr, StringComparison.Ordinal);

        CliRun missing = await server.RunAsync("set", "only a prompt");
        Assert.Equal(2, missing.ExitCode);

        CliRun badTtl = await server.RunAsync("set", "p", "r", "--ttl", "later");
        Assert.Equal(2, badTtl.ExitCode);
        Assert.Contains("not a duration", badTtl.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SetThenGetIsAnExactHitInTextAndJson()
    {
        string ns = ServerFixture.NewNamespace();
        CliRun set = await server.RunAsync(
            "set", "What is the refund window?", "Thirty days from delivery.", "--namespace", ns, "--ttl", "3600", "--model", "gpt-4o-mini", "--input-tokens", "12", "--output-tokens", "8");
        Assert.Equal(0, set.ExitCode);
        Assert.StartsWith("stored  id ", set.Stdout, StringComparison.Ordinal);

        CliRun text = await server.RunAsync("get", "What is the refund window?", "--namespace", ns);
        Assert.Equal(0, text.ExitCode);
        Assert.StartsWith("hit (exact, similarity 1.000)", text.Stdout, StringComparison.Ordinal);
        Assert.Contains("Thirty days from delivery.", text.Stdout, StringComparison.Ordinal);

        CliRun json = await server.RunAsync("get", "What is the refund window?", "--namespace", ns, "--json");
        using var document = JsonDocument.Parse(json.Stdout);
        JsonElement match = document.RootElement.GetProperty("matches")[0];
        Assert.True(document.RootElement.GetProperty("hit").GetBoolean());
        Assert.True(match.GetProperty("exact").GetBoolean());
        Assert.Equal("gpt-4o-mini", match.GetProperty("usage").GetProperty("model").GetString());
    }

    [Fact]
    public async Task AMissExitsZeroAndSaysSoInTextAndJson()
    {
        string ns = ServerFixture.NewNamespace();
        await server.RunAsync("set", "How do I change my delivery address?", "Under Orders, choose the order, then Edit address.", "--namespace", ns);

        CliRun text = await server.RunAsync("get", "Which programming language is the fastest?", "--namespace", ns);
        Assert.Equal(0, text.ExitCode);
        Assert.Matches(@"^miss \(best similarity -?[01]\.\d\d\)", text.Stdout);

        CliRun json = await server.RunAsync("get", "Which programming language is the fastest?", "--namespace", ns, "--json");
        Assert.Equal(0, json.ExitCode);
        using var document = JsonDocument.Parse(json.Stdout);
        Assert.False(document.RootElement.GetProperty("hit").GetBoolean());
        Assert.Equal(0, document.RootElement.GetProperty("matches").GetArrayLength());
        Assert.InRange(document.RootElement.GetProperty("bestSimilarity").GetSingle(), -1f, 0.99f);
    }

    [Fact]
    public async Task ImportOfAFileThatDoesNotExistExitsTwo()
    {
        CliRun run = await server.RunAsync("import", Path.Combine(Path.GetTempPath(), "no-such-file-" + Guid.NewGuid().ToString("N") + ".csv"));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("does not exist", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeleteRemovesAnEntryAndANamespaceNeedsYes()
    {
        string ns = ServerFixture.NewNamespace();
        CliRun set = await server.RunAsync("set", "Delete me", "gone soon", "--namespace", ns, "--json");
        string id = JsonDocument.Parse(set.Stdout).RootElement.GetProperty("id").GetString()!;
        await server.RunAsync("set", "Another one", "also gone", "--namespace", ns);

        CliRun one = await server.RunAsync("delete", id, "--namespace", ns);
        Assert.Equal(0, one.ExitCode);
        Assert.Equal("deleted 1", one.Stdout.Trim());

        CliRun unconfirmed = await server.RunAsync("delete", "--all", "--namespace", ns);
        Assert.Equal(2, unconfirmed.ExitCode);
        Assert.Contains("--yes", unconfirmed.Stderr, StringComparison.Ordinal);

        CliRun all = await server.RunAsync("delete", "--all", "--yes", "--namespace", ns);
        Assert.Equal(0, all.ExitCode);
        Assert.Equal("deleted 1", all.Stdout.Trim());
    }

    [Fact]
    public async Task EmbedPrintsOneVectorPerText()
    {
        CliRun json = await server.RunAsync("embed", "first text", "second text", "--json");

        Assert.Equal(0, json.ExitCode);
        using var document = JsonDocument.Parse(json.Stdout);
        Assert.Equal(2, document.RootElement.GetProperty("vectors").GetArrayLength());
        Assert.False(string.IsNullOrEmpty(document.RootElement.GetProperty("model").GetString()));
    }

    [Fact]
    public async Task AnInvalidArgumentExitsOneWithTheServersMessage()
    {
        CliRun run = await server.RunAsync("get", "a prompt", "--min-similarity", "3");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("InvalidArgument", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("min_similarity", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AServerThatIsDownExitsOneWithOneClearLine()
    {
        CliRun run = await ServerFixture.RunAgainstClosedPortAsync("stats");

        Assert.Equal(1, run.ExitCode);
        string line = Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("semcache: SemCache Stats failed: Unavailable", line, StringComparison.Ordinal);
        Assert.Empty(run.Stdout);
    }

    [Fact]
    public async Task TheAddressComesFromSemcacheAddressWhenNoFlagGivesIt()
    {
        // Every other test passes --address, so setting the variable here does not reach them.
        Environment.SetEnvironmentVariable("SEMCACHE_ADDRESS", "ftp://example.invalid");
        try
        {
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();
            int code = await CliApp.RunAsync(["stats"], stdout, stderr, null, TestContext.Current.CancellationToken);

            Assert.Equal(2, code);
            Assert.Contains("--address 'ftp://example.invalid'", stderr.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable("SEMCACHE_ADDRESS", null);
        }
    }
}
