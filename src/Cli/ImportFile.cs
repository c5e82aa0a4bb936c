using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SemCache.Cli;

/// <summary>One valid row of an import file, with the line it starts on.</summary>
internal sealed record ImportRow(int Line, string Prompt, string Response, string? Namespace, IReadOnlyDictionary<string, string>? Attributes, int? TtlSeconds);

/// <summary>A row that is not imported, with the line it starts on and why.</summary>
internal sealed record RejectedRow(int Line, string Reason);

/// <summary>The rows of an import file: the valid ones and the rejected ones, each with its line number.</summary>
internal sealed class ImportFile
{
    private static readonly string[] Fields = ["prompt", "response", "namespace", "attributes", "ttl_seconds"];

    public List<ImportRow> Rows { get; } = [];

    public List<RejectedRow> Rejected { get; } = [];

    /// <summary>Reads a CSV file with a header row (RFC 4180: quoted fields may hold commas, quotes doubled, and newlines).</summary>
    public static ImportFile ReadCsv(TextReader reader)
    {
        var file = new ImportFile();
        using IEnumerator<(int Line, List<string> Fields, string? Error)> records = CsvRecords(reader).GetEnumerator();
        if (!records.MoveNext())
        {
            file.Rejected.Add(new RejectedRow(1, "the file is empty; it needs a header row (prompt,response,...)"));
            return file;
        }

        (int headerLine, List<string> header, string? headerError) = records.Current;
        if (headerError is not null)
        {
            file.Rejected.Add(new RejectedRow(headerLine, headerError));
            return file;
        }

        var columns = header.Select(h => h.Trim().ToLowerInvariant()).ToList();
        foreach (string column in columns)
        {
            if (!Fields.Contains(column))
            {
                file.Rejected.Add(new RejectedRow(headerLine, $"unknown column '{column}' (known: {string.Join(", ", Fields)})"));
                return file;
            }
        }

        if (!columns.Contains("prompt") || !columns.Contains("response"))
        {
            file.Rejected.Add(new RejectedRow(headerLine, "the header needs the columns 'prompt' and 'response'"));
            return file;
        }

        if (columns.Distinct().Count() != columns.Count)
        {
            file.Rejected.Add(new RejectedRow(headerLine, "a column is named twice in the header"));
            return file;
        }

        while (records.MoveNext())
        {
            (int line, List<string> fields, string? error) = records.Current;
            if (error is not null)
            {
                file.Rejected.Add(new RejectedRow(line, error));
                continue;
            }

            if (fields.Count == 1 && fields[0].Length == 0)
            {
                continue; // a blank line
            }

            if (fields.Count != columns.Count)
            {
                file.Rejected.Add(new RejectedRow(line, $"{fields.Count} fields, the header has {columns.Count}"));
                continue;
            }

            var values = new Dictionary<string, string>();
            for (int i = 0; i < columns.Count; i++)
            {
                values[columns[i]] = fields[i];
            }

            values.TryGetValue("attributes", out string? attributes);
            values.TryGetValue("ttl_seconds", out string? ttl);
            values.TryGetValue("namespace", out string? ns);
            file.Add(line, values["prompt"], values["response"], ns, attributes, ttl);
        }

        return file;
    }

    /// <summary>Reads a JSONL file: one JSON object a line with the fields of the CSV columns.</summary>
    public static ImportFile ReadJsonl(TextReader reader)
    {
        var file = new ImportFile();
        int line = 0;
        while (reader.ReadLine() is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            try
            {
                using var document = JsonDocument.Parse(text);
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    file.Rejected.Add(new RejectedRow(line, "not a JSON object"));
                    continue;
                }

                string? prompt = null, response = null, ns = null, attributes = null, ttl = null;
                string? error = null;
                foreach (JsonProperty property in document.RootElement.EnumerateObject())
                {
                    switch (property.Name)
                    {
                        case "prompt": prompt = AsString(property.Value, "prompt", ref error); break;
                        case "response": response = AsString(property.Value, "response", ref error); break;
                        case "namespace": ns = AsString(property.Value, "namespace", ref error); break;
                        case "attributes":
                            attributes = property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : property.Value.GetRawText();
                            break;
                        case "ttl_seconds":
                            ttl = property.Value.ValueKind == JsonValueKind.Null ? null : property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString() : property.Value.GetRawText();
                            break;
                        default: error ??= $"unknown field '{property.Name}' (known: {string.Join(", ", Fields)})"; break;
                    }
                }

                if (error is not null)
                {
                    file.Rejected.Add(new RejectedRow(line, error));
                    continue;
                }

                file.Add(line, prompt, response, ns, attributes, ttl);
            }
            catch (JsonException e)
            {
                file.Rejected.Add(new RejectedRow(line, "malformed JSON: " + e.Message));
            }
        }

        return file;
    }

    /// <summary>Parses attributes written as a JSON object of strings or as <c>k=v;k=v</c>.</summary>
    public static bool TryParseAttributes(string text, out Dictionary<string, string> attributes, out string? error)
    {
        attributes = [];
        error = null;
        text = text.Trim();
        if (text.Length == 0)
        {
            return true;
        }

        if (text.StartsWith('{'))
        {
            try
            {
                using var document = JsonDocument.Parse(text);
                foreach (JsonProperty property in document.RootElement.EnumerateObject())
                {
                    if (property.Value.ValueKind != JsonValueKind.String)
                    {
                        error = $"attribute '{property.Name}' is not a string";
                        return false;
                    }

                    attributes[property.Name] = property.Value.GetString()!;
                }

                return true;
            }
            catch (JsonException e)
            {
                error = "attributes are not a valid JSON object: " + e.Message;
                return false;
            }
        }

        foreach (string pair in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                error = $"attribute '{pair}' is not k=v";
                return false;
            }

            attributes[pair[..eq].Trim()] = pair[(eq + 1)..].Trim();
        }

        return true;
    }

    private static string? AsString(JsonElement value, string name, ref string? error)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            error ??= $"'{name}' is not a string";
            return null;
        }

        return value.GetString();
    }

    private void Add(int line, string? prompt, string? response, string? ns, string? attributes, string? ttl)
    {
        if (string.IsNullOrWhiteSpace(prompt))
        {
            Rejected.Add(new RejectedRow(line, "missing prompt"));
            return;
        }

        if (string.IsNullOrEmpty(response))
        {
            Rejected.Add(new RejectedRow(line, "missing response"));
            return;
        }

        Dictionary<string, string>? parsed = null;
        if (!string.IsNullOrWhiteSpace(attributes))
        {
            if (!TryParseAttributes(attributes, out parsed, out string? error))
            {
                Rejected.Add(new RejectedRow(line, error!));
                return;
            }
        }

        int? ttlSeconds = null;
        if (!string.IsNullOrWhiteSpace(ttl))
        {
            if (!int.TryParse(ttl.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int seconds) || seconds <= 0)
            {
                Rejected.Add(new RejectedRow(line, $"bad ttl_seconds '{ttl}': a whole number of seconds above 0"));
                return;
            }

            ttlSeconds = seconds;
        }

        Rows.Add(new ImportRow(line, prompt, response, string.IsNullOrWhiteSpace(ns) ? null : ns, parsed?.Count > 0 ? parsed : null, ttlSeconds));
    }

    /// <summary>The records of an RFC 4180 file, each with the line it starts on, or the error that ends the file.</summary>
    private static IEnumerable<(int Line, List<string> Fields, string? Error)> CsvRecords(TextReader reader)
    {
        int line = 1;
        var field = new StringBuilder();
        var fields = new List<string>();
        int recordLine = 1;
        bool inQuotes = false, quoted = false, any = false;

        // After a record's line end: the next record starts on the next line.
        void NextRecord()
        {
            fields = [];
            field.Clear();
            quoted = false;
            any = false;
            line++;
            recordLine = line;
        }

        while (true)
        {
            int c = reader.Read();
            if (c < 0)
            {
                if (inQuotes)
                {
                    yield return (recordLine, fields, "a quoted field is not closed before the end of the file");
                }
                else if (any)
                {
                    fields.Add(field.ToString());
                    yield return (recordLine, fields, null);
                }

                yield break;
            }

            any = true;
            char ch = (char)c;
            if (inQuotes)
            {
                if (ch == '"')
                {
                    if (reader.Peek() == '"')
                    {
                        reader.Read();
                        field.Append('"');
                    }
                    else
                    {
                        inQuotes = false;
                    }
                }
                else
                {
                    if (ch == '\n')
                    {
                        line++;
                    }

                    field.Append(ch);
                }

                continue;
            }

            switch (ch)
            {
                case '"' when field.Length == 0 && !quoted:
                    inQuotes = quoted = true;
                    break;
                case ',':
                    fields.Add(field.ToString());
                    field.Clear();
                    quoted = false;
                    break;
                case '\r' when reader.Peek() == '\n':
                    break;
                case '\n':
                    fields.Add(field.ToString());
                    yield return (recordLine, fields, null);
                    NextRecord();
                    break;
                default:
                    if (quoted)
                    {
                        // Text after a closing quote: not RFC 4180. Skip the rest of this record.
                        string error = "text after a closing quote (a quote inside a quoted field is written twice: \"\")";
                        while (reader.Peek() >= 0 && reader.Peek() != '\n')
                        {
                            reader.Read();
                        }

                        reader.Read();
                        yield return (recordLine, fields, error);
                        NextRecord();
                        break;
                    }

                    field.Append(ch);
                    break;
            }
        }
    }
}
