using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json;
using SemCache.Client;

namespace SemCache.Cli;

/// <summary>
/// The <c>semcache</c> command line. Exit codes: 0 an answer (a miss is one), 1 a failed call or rejected import rows,
/// 2 a wrong command line.
/// </summary>
internal static class CliApp
{
    /// <summary>The server's documented default maximum TTL (Storage:MaxTtl); the contract does not expose the configured one.</summary>
    internal static readonly TimeSpan DefaultImportTtl = TimeSpan.FromDays(30);

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>Runs the command line.</summary>
    /// <param name="args">The arguments.</param>
    /// <param name="stdout">Where answers go.</param>
    /// <param name="stderr">Where errors, the progress bar and help for wrong command lines go.</param>
    /// <param name="handlerForTests">An HTTP handler to reach the server through (an in-process server), or null for the network.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(
        string[] args, TextWriter stdout, TextWriter stderr, HttpMessageHandler? handlerForTests = null, CancellationToken cancellationToken = default)
    {
        var app = new App(stdout, stderr, handlerForTests);
        RootCommand root = app.Build();
        ParseResult parsed = root.Parse(args);
        if (parsed.Action is ParseErrorAction)
        {
            foreach (ParseError error in parsed.Errors)
            {
                await stderr.WriteLineAsync("semcache: " + error.Message).ConfigureAwait(false);
            }

            await stderr.WriteLineAsync("Run 'semcache --help' (or 'semcache COMMAND --help') for the commands and options.").ConfigureAwait(false);
            return 2;
        }

        var configuration = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            return await parsed.InvokeAsync(configuration, cancellationToken).ConfigureAwait(false);
        }
        catch (SemCacheException e)
        {
            await stderr.WriteLineAsync("semcache: " + OneLine(e.Message)).ConfigureAwait(false);
            return 1;
        }
        catch (UsageException e)
        {
            await stderr.WriteLineAsync("semcache: " + e.Message).ConfigureAwait(false);
            return 2;
        }
        catch (IOException e)
        {
            await stderr.WriteLineAsync("semcache: " + OneLine(e.Message)).ConfigureAwait(false);
            return 1;
        }
        catch (UnauthorizedAccessException e)
        {
            await stderr.WriteLineAsync("semcache: " + OneLine(e.Message)).ConfigureAwait(false);
            return 1;
        }
    }

    internal static string OneLine(string text) => text.ReplaceLineEndings(" ");

    /// <summary>Parses a duration: whole seconds (<c>3600</c>), a number with s, m, h or d (<c>90s</c>, <c>12h</c>, <c>30d</c>), or <c>d.hh:mm:ss</c>.</summary>
    internal static bool TryParseDuration(string text, out TimeSpan duration)
    {
        text = text.Trim();
        duration = default;
        if (text.Length == 0)
        {
            return false;
        }

        double scale = char.ToLowerInvariant(text[^1]) switch { 's' => 1, 'm' => 60, 'h' => 3600, 'd' => 86400, _ => 0 };
        string number = scale == 0 ? text : text[..^1];
        if (double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value))
        {
            duration = TimeSpan.FromSeconds(value * (scale == 0 ? 1 : scale));
            return duration > TimeSpan.Zero;
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out duration) && duration > TimeSpan.Zero;
    }

    private static TimeSpan? ParseDurationOption(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (!TryParseDuration(text, out TimeSpan duration))
        {
            result.AddError($"'{text}' is not a duration above 0: seconds (3600), 90s, 15m, 12h, 30d or d.hh:mm:ss.");
            return null;
        }

        return duration;
    }

    private static Dictionary<string, string>? ParseAttributeArgs(string[]? pairs)
    {
        if (pairs is null || pairs.Length == 0)
        {
            return null;
        }

        var attributes = new Dictionary<string, string>();
        foreach (string pair in pairs)
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new UsageException($"--attribute '{pair}' is not k=v.");
            }

            attributes[pair[..eq]] = pair[(eq + 1)..];
        }

        return attributes;
    }

    private static string F(double value) => value.ToString("0.000", CultureInfo.InvariantCulture);

    /// <summary>A command line that parses but does not make sense (a bad k=v, a delete without --yes).</summary>
    private sealed class UsageException(string message) : Exception(message);

    private sealed class App(TextWriter stdout, TextWriter stderr, HttpMessageHandler? handler)
    {
        private readonly Option<string> _address = new("--address")
        {
            Description = "The server's address; also $SEMCACHE_ADDRESS.",
            Recursive = true,
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("SEMCACHE_ADDRESS") is { Length: > 0 } a ? a : "http://127.0.0.1:50051",
        };

        private readonly Option<string> _namespace = new("--namespace", "-n") { Description = "The namespace (default: the default namespace).", Recursive = true };

        private readonly Option<TimeSpan?> _timeout = new("--timeout")
        {
            Description = "How long a call may take, retries included (default 30s).",
            Recursive = true,
            CustomParser = ParseDurationOption,
        };

        private readonly Option<bool> _json = new("--json") { Description = "Print one JSON object (camelCase properties) instead of text.", Recursive = true };

        public RootCommand Build()
        {
            var root = new RootCommand("semcache: the command line of a SemCache server (get, set, delete, stats, embed, and import of a FAQ).");
            root.Options.Add(_address);
            root.Options.Add(_namespace);
            root.Options.Add(_timeout);
            root.Options.Add(_json);
            root.Subcommands.Add(GetCommand());
            root.Subcommands.Add(SetCommand());
            root.Subcommands.Add(DeleteCommand());
            root.Subcommands.Add(StatsCommand());
            root.Subcommands.Add(EmbedCommand());
            root.Subcommands.Add(ImportCommand());
            return root;
        }

        private static Option<string[]> AttributeOption(string description) =>
            new("--attribute", "-a") { Description = description, Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = false };

        private SemCacheClient Client(ParseResult parsed)
        {
            string address = parsed.GetValue(_address)!;
            if (!Uri.TryCreate(address, UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new UsageException($"--address '{address}' is not an http:// or https:// address.");
            }

            return new SemCacheClient(new SemCacheClientOptions
            {
                Address = uri,
                Namespace = parsed.GetValue(_namespace) ?? "",
                Timeout = parsed.GetValue(_timeout) ?? TimeSpan.FromSeconds(30),
                // A command line reports failures: it never answers a failed call as a miss.
                FailOpen = false,
                HttpHandler = handler,
            });
        }

        private async Task WriteJsonAsync(object value) =>
            await stdout.WriteLineAsync(JsonSerializer.Serialize(value, Json)).ConfigureAwait(false);

        private Command GetCommand()
        {
            var prompt = new Argument<string>("prompt") { Description = "The prompt to look up." };
            var minSimilarity = new Option<float?>("--min-similarity") { Description = "How close a semantic match must be, 0 to 1 (default: the server's)." };
            var topK = new Option<int>("--top-k") { Description = "How many matches to return (default 1)." };
            var exactOnly = new Option<bool>("--exact-only") { Description = "Only an exact match of the prompt." };
            Option<string[]> attributes = AttributeOption("The partition's attributes, k=v (repeat for more).");
            var command = new Command("get", "Looks a prompt up. A miss is an answer: exit code 0, 'miss (best similarity 0.83)'.")
            {
                prompt, minSimilarity, topK, exactOnly, attributes,
            };
            command.SetAction(async (parsed, ct) =>
            {
                using SemCacheClient client = Client(parsed);
                CacheLookup lookup = await client.GetAsync(
                    new CacheQuery
                    {
                        Prompt = parsed.GetValue(prompt),
                        MinSimilarity = parsed.GetValue(minSimilarity),
                        TopK = parsed.GetValue(topK),
                        ExactOnly = parsed.GetValue(exactOnly),
                        Attributes = ParseAttributeArgs(parsed.GetValue(attributes)),
                    },
                    ct).ConfigureAwait(false);
                if (parsed.GetValue(_json))
                {
                    await WriteJsonAsync(new
                    {
                        hit = lookup.IsHit,
                        bestSimilarity = lookup.BestSimilarity,
                        promptTruncated = lookup.PromptTruncated,
                        matches = lookup.Matches.Select(m => new
                        {
                            id = m.Id,
                            prompt = m.Prompt,
                            response = m.Response,
                            similarity = m.Similarity,
                            exact = m.Exact,
                            expiresAt = m.ExpiresAt,
                            usage = m.Usage is null ? null : new { model = m.Usage.Model, inputTokens = m.Usage.InputTokens, outputTokens = m.Usage.OutputTokens },
                        }),
                    }).ConfigureAwait(false);
                    return 0;
                }

                if (!lookup.IsHit)
                {
                    await stdout.WriteLineAsync(lookup.BestSimilarity is { } best ? $"miss (best similarity {best.ToString("0.00", CultureInfo.InvariantCulture)})" : "miss").ConfigureAwait(false);
                    return 0;
                }

                foreach (CacheHit hit in lookup.Matches)
                {
                    await stdout.WriteLineAsync($"hit ({(hit.Exact ? "exact" : "semantic")}, similarity {F(hit.Similarity)})  id {hit.Id}").ConfigureAwait(false);
                    if (lookup.Matches.Count > 1)
                    {
                        await stdout.WriteLineAsync("prompt: " + hit.Prompt).ConfigureAwait(false);
                    }

                    await stdout.WriteLineAsync(hit.Response).ConfigureAwait(false);
                }

                return 0;
            });
            return command;
        }

        private Command SetCommand()
        {
            var prompt = new Argument<string>("prompt") { Description = "The prompt." };
            var response = new Argument<string>("response") { Description = "The response stored under it." };
            var ttl = new Option<TimeSpan?>("--ttl") { Description = "How long it stays: seconds, 90s, 15m, 12h, 30d (default: the server's Storage:DefaultTtl).", CustomParser = ParseDurationOption };
            Option<string[]> attributes = AttributeOption("The partition's attributes, k=v (repeat for more).");
            var model = new Option<string>("--model") { Description = "The model that produced the response (for the savings counters)." };
            var inputTokens = new Option<int>("--input-tokens") { Description = "The prompt's tokens." };
            var outputTokens = new Option<int>("--output-tokens") { Description = "The response's tokens." };
            var command = new Command("set", "Stores a response under a prompt, replacing an entry with the same exact key.")
            {
                prompt, response, ttl, attributes, model, inputTokens, outputTokens,
            };
            command.SetAction(async (parsed, ct) =>
            {
                string? modelName = parsed.GetValue(model);
                using SemCacheClient client = Client(parsed);
                CacheStored stored = await client.SetAsync(
                    new CacheEntry
                    {
                        Prompt = parsed.GetValue(prompt),
                        Response = parsed.GetValue(response)!,
                        Ttl = parsed.GetValue(ttl),
                        Attributes = ParseAttributeArgs(parsed.GetValue(attributes)),
                        Usage = modelName is null ? null : new CacheUsage(modelName, parsed.GetValue(inputTokens), parsed.GetValue(outputTokens)),
                    },
                    ct).ConfigureAwait(false);
                if (parsed.GetValue(_json))
                {
                    await WriteJsonAsync(new { id = stored.Id, replaced = stored.Replaced, semanticallyIndexed = stored.SemanticallyIndexed }).ConfigureAwait(false);
                }
                else
                {
                    await stdout.WriteLineAsync($"stored  id {stored.Id}{(stored.Replaced ? "  (replaced)" : "")}{(stored.SemanticallyIndexed ? "" : "  (exact layer only)")}").ConfigureAwait(false);
                }

                return 0;
            });
            return command;
        }

        private Command DeleteCommand()
        {
            var id = new Argument<string?>("id") { Description = "The id of the entry (what set printed).", Arity = ArgumentArity.ZeroOrOne };
            Option<string[]> attributes = AttributeOption("Without an id: delete the partition with these attributes, k=v (needs --yes).");
            var all = new Option<bool>("--all") { Description = "Without an id: delete the whole namespace (needs --yes)." };
            var yes = new Option<bool>("--yes") { Description = "Confirms the deletion of a partition or a whole namespace." };
            var command = new Command("delete", "Deletes one entry by id, a partition (--attribute ... --yes) or a whole namespace (--all --yes).")
            {
                id, attributes, all, yes,
            };
            command.SetAction(async (parsed, ct) =>
            {
                string? entryId = parsed.GetValue(id);
                Dictionary<string, string>? partition = ParseAttributeArgs(parsed.GetValue(attributes));
                bool whole = parsed.GetValue(all);
                if ((entryId is null) == (partition is null && !whole) || (partition is not null && whole))
                {
                    throw new UsageException("delete takes one of: an id, --attribute k=v ... --yes, or --all --yes.");
                }

                if (entryId is null && !parsed.GetValue(yes))
                {
                    throw new UsageException("deleting a partition or a whole namespace needs --yes.");
                }

                using SemCacheClient client = Client(parsed);
                long deleted = entryId is not null
                    ? await client.DeleteAsync(entryId, cancellationToken: ct).ConfigureAwait(false)
                    : await client.DeletePartitionAsync(partition, cancellationToken: ct).ConfigureAwait(false);
                if (parsed.GetValue(_json))
                {
                    await WriteJsonAsync(new { deleted }).ConfigureAwait(false);
                }
                else
                {
                    await stdout.WriteLineAsync($"deleted {deleted}").ConfigureAwait(false);
                }

                return 0;
            });
            return command;
        }

        private Command StatsCommand()
        {
            var command = new Command("stats", "The counters of the whole cache, or of one namespace with --namespace.");
            command.SetAction(async (parsed, ct) =>
            {
                using SemCacheClient client = Client(parsed);
                CacheStatistics s = await client.StatsAsync(parsed.GetValue(_namespace), ct).ConfigureAwait(false);
                if (parsed.GetValue(_json))
                {
                    await WriteJsonAsync(s).ConfigureAwait(false);
                    return 0;
                }

                (string, string)[] rows =
                [
                    ("entries", s.Entries.ToString(CultureInfo.InvariantCulture)),
                    ("gets", s.Gets.ToString(CultureInfo.InvariantCulture)),
                    ("exact hits", s.ExactHits.ToString(CultureInfo.InvariantCulture)),
                    ("semantic hits", s.SemanticHits.ToString(CultureInfo.InvariantCulture)),
                    ("misses", s.Misses.ToString(CultureInfo.InvariantCulture)),
                    ("hit rate", s.HitRate.ToString("P1", CultureInfo.InvariantCulture)),
                    ("sets", s.Sets.ToString(CultureInfo.InvariantCulture)),
                    ("tokens saved", s.TokensSaved.ToString(CultureInfo.InvariantCulture)),
                    ("cost saved", "$" + s.CostSavedUsd.ToString("0.00####", CultureInfo.InvariantCulture)),
                    ("unpriced", s.UnpricedTokens.ToString(CultureInfo.InvariantCulture) + " tokens (models without a price)"),
                ];
                foreach ((string name, string value) in rows)
                {
                    await stdout.WriteLineAsync($"{name,-14} {value}").ConfigureAwait(false);
                }

                return 0;
            });
            return command;
        }

        private Command EmbedCommand()
        {
            var texts = new Argument<string[]>("text") { Description = "The texts, each embedded on its own.", Arity = ArgumentArity.OneOrMore };
            var command = new Command("embed", "Embeds texts with the server's model.") { texts };
            command.SetAction(async (parsed, ct) =>
            {
                using SemCacheClient client = Client(parsed);
                CacheEmbeddings embeddings = await client.EmbedAsync(parsed.GetValue(texts)!, ct).ConfigureAwait(false);
                if (parsed.GetValue(_json))
                {
                    await WriteJsonAsync(new { model = embeddings.Model, vectors = embeddings.Vectors }).ConfigureAwait(false);
                    return 0;
                }

                await stdout.WriteLineAsync($"model {embeddings.Model}, {embeddings.Vectors.Count} vector(s) of {(embeddings.Vectors.Count > 0 ? embeddings.Vectors[0].Length : 0)} dimensions").ConfigureAwait(false);
                foreach (float[] vector in embeddings.Vectors)
                {
                    string head = string.Join(", ", vector.Take(4).Select(v => v.ToString("0.0000", CultureInfo.InvariantCulture)));
                    await stdout.WriteLineAsync($"[{head}, ...]").ConfigureAwait(false);
                }

                return 0;
            });
            return command;
        }

        private Command ImportCommand()
        {
            var file = new Argument<FileInfo>("file") { Description = "A CSV file with a header (prompt,response[,namespace,attributes,ttl_seconds]) or a JSONL file (.jsonl, .ndjson)." };
            file.AcceptExistingOnly();
            var format = new Option<string>("--format") { Description = "csv or jsonl (default: by the file's extension; .jsonl and .ndjson are JSONL, anything else CSV)." };
            format.AcceptOnlyFromAmong("csv", "jsonl");
            var ttl = new Option<TimeSpan?>("--ttl")
            {
                Description = "The TTL of rows without ttl_seconds: seconds, 90s, 12h, 30d. Default 30 days, the documented default maximum (Storage:MaxTtl), so FAQ answers stay; the server does not expose its configured maximum.",
                CustomParser = ParseDurationOption,
            };
            var batchSize = new Option<int>("--batch-size") { Description = "Entries per SetMany call (default 256; the server takes at most Cache:MaxSetManyEntries, default 1000).", DefaultValueFactory = _ => 256 };
            batchSize.Validators.Add(r =>
            {
                if (r.GetValueOrDefault<int>() is < 1 or > 1000)
                {
                    r.AddError("--batch-size must be 1 to 1000.");
                }
            });
            var strict = new Option<bool>("--strict") { Description = "Import nothing if any row is bad (default: import the good rows, report the bad ones)." };
            var command = new Command(
                "import",
                "Loads a FAQ or pre-answered set. Every row is validated before anything is sent; bad rows are reported with their line numbers and not imported. Exit code 1 when any row was rejected.")
            {
                file, format, ttl, batchSize, strict,
            };
            command.SetAction(async (parsed, ct) =>
            {
                FileInfo path = parsed.GetValue(file)!;
                string kind = parsed.GetValue(format)
                    ?? (path.Extension.Equals(".jsonl", StringComparison.OrdinalIgnoreCase) || path.Extension.Equals(".ndjson", StringComparison.OrdinalIgnoreCase) ? "jsonl" : "csv");
                ImportFile rows;
                using (var reader = new StreamReader(path.FullName))
                {
                    rows = kind == "jsonl" ? ImportFile.ReadJsonl(reader) : ImportFile.ReadCsv(reader);
                }

                var importer = new Importer(stdout, stderr, stderr == Console.Error && !Console.IsErrorRedirected);
                using SemCacheClient client = Client(parsed);
                return await importer.RunAsync(
                    client, rows, parsed.GetValue(ttl) ?? DefaultImportTtl, parsed.GetValue(batchSize), parsed.GetValue(strict), parsed.GetValue(_json), ct).ConfigureAwait(false);
            });
            return command;
        }
    }
}
