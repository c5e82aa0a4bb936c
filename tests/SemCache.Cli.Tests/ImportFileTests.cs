namespace SemCache.Cli.Tests;

public sealed class ImportFileTests
{
    [Fact]
    public void CsvReadsCrlfQuotedFieldsAndKeepsTheLineEachRecordStartsOn()
    {
        string csv = "Prompt,Response,Namespace\r\n\"a, b\",\"line one\r\nline two\",ns1\r\nplain,\"say \"\"hi\"\"\",\r\n";

        ImportFile file = ImportFile.ReadCsv(new StringReader(csv));

        Assert.Empty(file.Rejected);
        Assert.Equal(2, file.Rows.Count);
        Assert.Equal(new ImportRow(2, "a, b", "line one\r\nline two", "ns1", null, null), file.Rows[0]);
        Assert.Equal(4, file.Rows[1].Line);
        Assert.Equal("say \"hi\"", file.Rows[1].Response);
        Assert.Null(file.Rows[1].Namespace);
    }

    [Fact]
    public void CsvRejectsAnUnknownColumnAnUnclosedQuoteAndTextAfterAClosingQuote()
    {
        ImportFile unknown = ImportFile.ReadCsv(new StringReader("prompt,response,colour\na,b,red\n"));
        Assert.Empty(unknown.Rows);
        Assert.Equal(1, Assert.Single(unknown.Rejected).Line);
        Assert.Contains("unknown column 'colour'", unknown.Rejected[0].Reason, StringComparison.Ordinal);

        ImportFile afterQuote = ImportFile.ReadCsv(new StringReader("prompt,response\n\"a\"x,b\nc,d\n"));
        Assert.Equal(2, Assert.Single(afterQuote.Rejected).Line);
        Assert.Equal(3, Assert.Single(afterQuote.Rows).Line);

        ImportFile unclosed = ImportFile.ReadCsv(new StringReader("prompt,response\nc,d\n\"never closed,x\n"));
        Assert.Equal(3, Assert.Single(unclosed.Rejected).Line);
        Assert.Single(unclosed.Rows);
    }

    [Fact]
    public void AttributesAreAJsonObjectOfStringsOrKeyValuePairs()
    {
        Assert.True(ImportFile.TryParseAttributes("lang=en; tier = pro", out Dictionary<string, string> pairs, out _));
        Assert.Equal(new Dictionary<string, string> { ["lang"] = "en", ["tier"] = "pro" }, pairs);
        Assert.True(ImportFile.TryParseAttributes("{\"lang\":\"de\"}", out Dictionary<string, string> json, out _));
        Assert.Equal("de", json["lang"]);
        Assert.False(ImportFile.TryParseAttributes("lang", out _, out string? error));
        Assert.Contains("not k=v", error, StringComparison.Ordinal);
    }
}
