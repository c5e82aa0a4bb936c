using System.Text.Json;

namespace SemCache.Cli.Tests;

public sealed class ImportTests(ServerFixture server) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("semcache-cli-import-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public async Task CsvWithQuotedCommasQuotesAndNewlinesImportsTheGoodRowsAndReportsTheBadOnesByLine()
    {
        string ns = ServerFixture.NewNamespace();
        string csv =
            "prompt,response,attributes,ttl_seconds\n" +                                        // line 1
            "\"How do I reset my password, quickly?\",\"Open Settings, then \"\"Security\"\".\",,\n" + // line 2
            "What are your opening hours?,\"Weekdays 9-17.\nWeekends closed.\",lang=en;tier=free,3600\n" + // lines 3-4
            ",A response without its prompt,,\n" +                                                 // line 5
            "Bad ttl row,Some answer,,soon\n" +                                                    // line 6
            "Bad attributes row,Some answer,{\"lang\": 1},\n" +                                    // line 7
            "Too few fields\n";                                                                    // line 8
        string path = Write("faq.csv", csv);

        CliRun import = await server.RunAsync("import", path, "--namespace", ns);

        Assert.Equal(1, import.ExitCode); // rows were rejected
        Assert.Contains("imported 2, rejected 4", import.Stdout, StringComparison.Ordinal);
        Assert.Contains("line 5: missing prompt", import.Stdout, StringComparison.Ordinal);
        Assert.Contains("line 6: bad ttl_seconds", import.Stdout, StringComparison.Ordinal);
        Assert.Contains("line 7: attribute 'lang' is not a string", import.Stdout, StringComparison.Ordinal);
        Assert.Contains("line 8: 1 fields, the header has 4", import.Stdout, StringComparison.Ordinal);

        CliRun first = await server.RunAsync("get", "How do I reset my password, quickly?", "--namespace", ns, "--exact-only", "--json");
        using (var json = JsonDocument.Parse(first.Stdout))
        {
            Assert.True(json.RootElement.GetProperty("hit").GetBoolean());
            Assert.Equal("Open Settings, then \"Security\".", json.RootElement.GetProperty("matches")[0].GetProperty("response").GetString());
        }

        CliRun second = await server.RunAsync("get", "What are your opening hours?", "--namespace", ns, "--exact-only", "-a", "lang=en", "-a", "tier=free");
        Assert.Equal(0, second.ExitCode);
        Assert.Contains("Weekdays 9-17.\nWeekends closed.", second.Stdout, StringComparison.Ordinal);

        // Nothing of a bad row is stored.
        CliRun bad = await server.RunAsync("get", "Bad ttl row", "--namespace", ns, "--exact-only");
        Assert.StartsWith("miss", bad.Stdout, StringComparison.Ordinal);
        CliRun stats = await server.RunAsync("stats", "--namespace", ns, "--json");
        using var statsJson = JsonDocument.Parse(stats.Stdout);
        Assert.Equal(2, statsJson.RootElement.GetProperty("entries").GetInt64());
    }

    [Fact]
    public async Task JsonlReportsAMalformedLineAMissingFieldAndAnUnknownFieldAndImportsTheRest()
    {
        string ns = ServerFixture.NewNamespace();
        string jsonl =
            "{\"prompt\": \"Do you ship abroad?\", \"response\": \"Yes, to 40 countries.\", \"attributes\": {\"lang\": \"en\"}}\n" + // 1
            "{\"prompt\": \"Broken line\", \"response\": \n" +                                                             // 2
            "{\"prompt\": \"No response here\"}\n" +                                                                          // 3
            "\n" +                                                                                                             // 4
            "{\"prompt\": \"Can I pay by card?\", \"response\": \"Visa and Mastercard.\", \"ttl_seconds\": 7200}\n" +            // 5
            "{\"prompt\": \"Typo\", \"respnse\": \"x\"}\n";                                                                     // 6
        string path = Write("faq.jsonl", jsonl);

        CliRun import = await server.RunAsync("import", path, "--namespace", ns, "--json");

        Assert.Equal(1, import.ExitCode);
        using var json = JsonDocument.Parse(import.Stdout);
        Assert.Equal(2, json.RootElement.GetProperty("imported").GetInt32());
        var rejected = json.RootElement.GetProperty("rejected").EnumerateArray()
            .Select(r => (r.GetProperty("line").GetInt32(), r.GetProperty("reason").GetString()!)).ToList();
        Assert.Equal([2, 3, 6], rejected.Select(r => r.Item1));
        Assert.StartsWith("malformed JSON", rejected[0].Item2, StringComparison.Ordinal);
        Assert.Equal("missing response", rejected[1].Item2);
        Assert.StartsWith("unknown field 'respnse'", rejected[2].Item2, StringComparison.Ordinal);

        CliRun hit = await server.RunAsync("get", "Can I pay by card?", "--namespace", ns, "--exact-only");
        Assert.Contains("Visa and Mastercard.", hit.Stdout, StringComparison.Ordinal);
        CliRun stats = await server.RunAsync("stats", "--namespace", ns);
        Assert.Matches(@"entries\s+2", stats.Stdout);
    }

    [Fact]
    public async Task StrictImportsNothingWhenARowIsBad()
    {
        string ns = ServerFixture.NewNamespace();
        string path = Write("strict.csv", "prompt,response\nA good question,A good answer\n,no prompt\n");

        CliRun import = await server.RunAsync("import", path, "--namespace", ns, "--strict");

        Assert.Equal(1, import.ExitCode);
        Assert.Contains("line 3: missing prompt", import.Stdout, StringComparison.Ordinal);
        Assert.Contains("nothing imported", import.Stdout, StringComparison.Ordinal);
        Assert.Contains("imported 0", import.Stdout, StringComparison.Ordinal);
        CliRun get = await server.RunAsync("get", "A good question", "--namespace", ns, "--exact-only");
        Assert.StartsWith("miss", get.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TtlAppliesToRowsWithoutTheirOwnAndTheDefaultIsThirtyDays()
    {
        string ns = ServerFixture.NewNamespace();
        string path = Write("ttl.csv", "prompt,response,ttl_seconds\nShort lived,answer one,\nOwn ttl,answer two,7200\n");

        CliRun import = await server.RunAsync("import", path, "--namespace", ns, "--ttl", "1h", "--batch-size", "1");
        Assert.Equal(0, import.ExitCode);
        Assert.Contains("imported 2, rejected 0, batches 2", import.Stdout, StringComparison.Ordinal);

        DateTimeOffset now = DateTimeOffset.UtcNow;
        Assert.InRange(await ExpiresAtAsync(ns, "Short lived") - now, TimeSpan.FromMinutes(50), TimeSpan.FromMinutes(61));
        Assert.InRange(await ExpiresAtAsync(ns, "Own ttl") - now, TimeSpan.FromMinutes(110), TimeSpan.FromMinutes(121));

        string ns2 = ServerFixture.NewNamespace();
        string plain = Write("plain.csv", "prompt,response\nStays,for the maximum\n");
        Assert.Equal(0, (await server.RunAsync("import", plain, "--namespace", ns2)).ExitCode);
        Assert.InRange(await ExpiresAtAsync(ns2, "Stays") - now, TimeSpan.FromDays(29.9), TimeSpan.FromDays(30.1));
    }

    [Fact]
    public async Task ABatchTheServerRejectsIsReportedWithTheLinesOfItsRowsAndTheOtherBatchesAreImported()
    {
        string ns = ServerFixture.NewNamespace();
        // A TTL of ten years is above the server's maximum (Storage:MaxTtl, 30 days by default).
        string path = Write("server.csv", "prompt,response,ttl_seconds\nFirst,one,\nToo long lived,two,315360000\nThird,three,\n");

        CliRun import = await server.RunAsync("import", path, "--namespace", ns, "--batch-size", "1");

        Assert.Equal(1, import.ExitCode);
        Assert.Contains("line 3: rejected by the server with its batch: SemCache SetMany failed: InvalidArgument", import.Stdout, StringComparison.Ordinal);
        Assert.Contains("imported 2, rejected 1", import.Stdout, StringComparison.Ordinal);
        Assert.StartsWith("miss", (await server.RunAsync("get", "Too long lived", "--namespace", ns, "--exact-only")).Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnImportedFaqAnswersAParaphraseAndStatsCountTheEntries()
    {
        string ns = ServerFixture.NewNamespace();
        string path = Write("paraphrase.csv", "prompt,response,attributes\nHow do I reset my password?,Use the Forgot password link.,model=gpt-4o\nWhere is my invoice?,Under Billing.,model=gpt-4o\n");
        Assert.Equal(0, (await server.RunAsync("import", path, "--namespace", ns)).ExitCode);

        CliRun get = await server.RunAsync("get", "How can I reset my password?", "--namespace", ns, "--attribute", "model=gpt-4o");

        Assert.Equal(0, get.ExitCode);
        Assert.StartsWith("hit (semantic, similarity ", get.Stdout, StringComparison.Ordinal);
        Assert.Contains("Use the Forgot password link.", get.Stdout, StringComparison.Ordinal);
        CliRun stats = await server.RunAsync("stats", "--namespace", ns);
        Assert.Matches(@"entries\s+2\n", stats.Stdout);
        Assert.Matches(@"semantic hits\s+1\n", stats.Stdout);
    }

    private async Task<DateTimeOffset> ExpiresAtAsync(string ns, string prompt)
    {
        CliRun get = await server.RunAsync("get", prompt, "--namespace", ns, "--exact-only", "--json");
        using var json = JsonDocument.Parse(get.Stdout);
        return json.RootElement.GetProperty("matches")[0].GetProperty("expiresAt").GetDateTimeOffset();
    }
}
