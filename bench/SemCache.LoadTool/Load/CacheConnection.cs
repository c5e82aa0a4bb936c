using System.Globalization;
using Grpc.Net.Client;
using SemCache.LoadTool.Data;
using SemCache.Protocol.V1;

namespace SemCache.LoadTool.Load;

/// <summary>One gRPC channel to the server (HTTP/2 multiplexes every worker's calls over it) and its typed client.</summary>
internal sealed class CacheConnection : IDisposable
{
    private readonly GrpcChannel _channel;

    public CacheConnection(Uri address)
    {
        Address = address;
        _channel = GrpcChannel.ForAddress(address, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                // More than 100 concurrent streams would otherwise queue on one connection and show up as latency.
                EnableMultipleHttp2Connections = true,
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            },
            MaxReceiveMessageSize = 64 * 1024 * 1024,
        });
        Client = new SemanticCache.SemanticCacheClient(_channel);
    }

    public Uri Address { get; }

    public SemanticCache.SemanticCacheClient Client { get; }

    /// <summary>A namespace of its own for each run, so runs never see each other's entries.</summary>
    public static string NewRunNamespace(string prefix) =>
        $"{prefix}-{DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}-{Random.Shared.Next(0x1000, 0xFFFF):x4}";

    /// <summary>
    /// Stores each distinct text (by the server's normal form) with SetMany, in batches of <paramref name="batchSize"/>
    /// with <paramref name="parallelism"/> calls in flight, and returns normalised text → entry id.
    /// </summary>
    public async Task<Dictionary<string, string>> PreloadAsync(string ns, IEnumerable<string> texts, int batchSize, int parallelism, IProgressSink progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(progress);
        var distinct = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string text in texts)
        {
            string normal = PromptNormalizer.Normalize(text);
            if (seen.Add(normal))
            {
                distinct.Add(normal);
            }
        }

        var ids = new Dictionary<string, string>(distinct.Count, StringComparer.Ordinal);
        var batches = distinct.Chunk(batchSize).Select((batch, index) => (batch, index)).ToList();
        long stored = 0;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken }, async (item, token) =>
        {
            var request = new SetManyRequest();
            foreach (string text in item.batch)
            {
                request.Entries.Add(new SetRequest { Namespace = ns, Prompt = text, Response = "cached answer to: " + text });
            }

            SetManyResponse response = await Client.SetManyAsync(request, cancellationToken: token).ConfigureAwait(false);
            lock (ids)
            {
                for (int i = 0; i < item.batch.Length; i++)
                {
                    ids[item.batch[i]] = response.Results[i].Id;
                }
            }

            progress.Report(Interlocked.Add(ref stored, item.batch.Length), System.Diagnostics.Stopwatch.GetElapsedTime(started));
        }).ConfigureAwait(false);
        return ids;
    }

    public async Task DeleteNamespaceAsync(string ns)
    {
        await Client.DeleteAsync(new DeleteRequest { Namespace = ns, EntireNamespace = true }).ConfigureAwait(false);
    }

    public void Dispose() => _channel.Dispose();
}
