using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using SemCache.Client;

namespace SemCache.Cli;

/// <summary>Sends the valid rows of an import file through SetMany in batches, with a progress bar and a summary.</summary>
internal sealed class Importer(TextWriter stdout, TextWriter stderr, bool progress)
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public async Task<int> RunAsync(
        SemCacheClient client, ImportFile file, TimeSpan defaultTtl, int batchSize, bool strict, bool json, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var rejected = new List<RejectedRow>(file.Rejected);
        int imported = 0, batches = 0;
        string? failure = null;
        if (!strict || rejected.Count == 0)
        {
            for (int start = 0; start < file.Rows.Count; start += batchSize)
            {
                List<ImportRow> batch = file.Rows.GetRange(start, Math.Min(batchSize, file.Rows.Count - start));
                try
                {
                    IReadOnlyList<CacheStored> results = await client.SetManyAsync(batch.Select(r => ToEntry(r, defaultTtl)), cancellationToken).ConfigureAwait(false);
                    imported += results.Count;
                }
                catch (SemCacheException e) when (e.StatusCode == StatusCode.InvalidArgument)
                {
                    // SetMany stores all of a batch or none of it: the server's message names the entry it rejected.
                    string reason = "rejected by the server with its batch: " + CliApp.OneLine(e.Message);
                    rejected.AddRange(batch.Select(r => new RejectedRow(r.Line, reason)));
                }
                catch (SemCacheException e)
                {
                    failure = CliApp.OneLine(e.Message);
                    break;
                }

                batches++;
                if (progress)
                {
                    int done = Math.Min(start + batchSize, file.Rows.Count);
                    int filled = done * 30 / Math.Max(1, file.Rows.Count);
                    await stderr.WriteAsync($"\r[{new string('#', filled)}{new string('.', 30 - filled)}] {done}/{file.Rows.Count}").ConfigureAwait(false);
                }
            }

            if (progress && file.Rows.Count > 0)
            {
                await stderr.WriteLineAsync().ConfigureAwait(false);
            }
        }

        rejected.Sort((a, b) => a.Line.CompareTo(b.Line));
        double seconds = stopwatch.Elapsed.TotalSeconds;
        double rate = seconds > 0 ? imported / seconds : 0;
        bool strictAbort = strict && file.Rejected.Count > 0;
        if (json)
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(
                new
                {
                    imported,
                    rejected = rejected.Select(r => new { line = r.Line, reason = r.Reason }),
                    batches,
                    elapsedSeconds = Math.Round(seconds, 3),
                    entriesPerSecond = Math.Round(rate, 1),
                    strictAbort,
                    error = failure,
                },
                Json)).ConfigureAwait(false);
        }
        else
        {
            foreach (RejectedRow row in rejected)
            {
                await stdout.WriteLineAsync($"line {row.Line}: {row.Reason}").ConfigureAwait(false);
            }

            if (strictAbort)
            {
                await stdout.WriteLineAsync($"--strict: {file.Rejected.Count} bad row(s), nothing imported").ConfigureAwait(false);
            }

            await stdout.WriteLineAsync(
                $"imported {imported}, rejected {rejected.Count}, batches {batches}, elapsed {seconds.ToString("0.00", CultureInfo.InvariantCulture)} s, "
                + $"{rate.ToString("0", CultureInfo.InvariantCulture)} entries/s").ConfigureAwait(false);
        }

        if (failure is not null)
        {
            await stderr.WriteLineAsync("semcache: " + failure).ConfigureAwait(false);
        }

        return failure is not null || rejected.Count > 0 ? 1 : 0;
    }

    private static CacheEntry ToEntry(ImportRow row, TimeSpan defaultTtl) => new()
    {
        Prompt = row.Prompt,
        Response = row.Response,
        Namespace = row.Namespace,
        Attributes = row.Attributes,
        Ttl = row.TtlSeconds is { } s ? TimeSpan.FromSeconds(s) : defaultTtl,
    };
}
