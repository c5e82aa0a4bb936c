using System.Diagnostics;
using System.Globalization;
using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using SemCache.Protocol.V1;

namespace SemCache.CacheServer.Tests;

/// <summary>The real server on a small real file system that fills up, then gets its space back.</summary>
public sealed partial class RealProcessTests
{
    [Fact]
    public async Task OnAFullDiskSetsAreUnavailableReadsGoOnReadinessSaysWhyAndWritesComeBackWithTheSpace()
    {
        using TmpfsMount? mount = TmpfsMount.TryCreate(48);
        if (mount is null)
        {
            Assert.Skip("mounting a tmpfs is not permitted here (needs root on Linux)");
        }

        string filler = Path.Combine(mount.Path, "filler");
        string data = Path.Combine(mount.Path, "data");
        string[] flags = ["--durability", "strict", "--Storage:MemoryLogSizeBytes", "33554432", "--Storage:HashIndexSizeBytes", "1048576"];
        var acknowledged = new List<(string Prompt, string Id)>();
        using (ServerProcess server = await ServerProcess.StartAsync(data, flags))
        {
            using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{server.Port}");
            var client = new SemanticCache.SemanticCacheClient(channel);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.HttpPort}") };
            await File.WriteAllBytesAsync(filler, new byte[30 << 20], Ct);

            // Large responses with the caller's vectors (no model run) fill what is left within a few hundred Sets.
            string response = new('x', 200_000);
            RpcException? failure = null;
            for (int i = 0; i < 2_000 && failure is null; i++)
            {
                string prompt = string.Create(CultureInfo.InvariantCulture, $"filling the disk, entry {i}");
                try
                {
                    SetResponse set = await client.SetAsync(new SetRequest { Namespace = "fill", Prompt = prompt, Response = response, Vector = { 1f, i, 0f, 0f } }, cancellationToken: Ct);
                    acknowledged.Add((prompt, set.Id));
                }
                catch (RpcException e)
                {
                    failure = e;
                }
            }

            Assert.NotNull(failure);
            Assert.Equal(StatusCode.Unavailable, failure.StatusCode);
            Assert.Contains("No space left on device", failure.Status.Detail, StringComparison.Ordinal);
            Assert.NotEmpty(acknowledged);

            // Not ready for writes, saying why; lookups go on.
            HttpResponseMessage health = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            Assert.Contains("space", await health.Content.ReadAsStringAsync(Ct), StringComparison.OrdinalIgnoreCase);
            GetResponse read = await client.GetAsync(new GetRequest { Namespace = "fill", Prompt = acknowledged[0].Prompt }, cancellationToken: Ct);
            Assert.Equal(acknowledged[0].Id, Assert.Single(read.Matches).Id);

            // Space back: writes resume without a restart.
            File.Delete(filler);
            SetResponse? after = null;
            var waited = Stopwatch.StartNew();
            while (after is null)
            {
                try
                {
                    after = await client.SetAsync(new SetRequest { Namespace = "fill", Prompt = "after the space came back", Response = "r", Vector = { 0f, 1f, 0f, 0f } }, cancellationToken: Ct);
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && waited.Elapsed < TimeSpan.FromSeconds(60))
                {
                    await Task.Delay(200, Ct);
                }
            }

            acknowledged.Add(("after the space came back", after.Id));
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct)).StatusCode);
            Assert.Equal(0, await server.TerminateAsync());
        }

        // Nothing acknowledged was lost, and the vectors are searchable.
        using (ServerProcess server = await ServerProcess.StartAsync(data, flags))
        {
            using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{server.Port}");
            var client = new SemanticCache.SemanticCacheClient(channel);
            foreach ((string prompt, string id) in acknowledged)
            {
                GetResponse found = await client.GetAsync(new GetRequest { Namespace = "fill", Prompt = prompt, ExactOnly = true }, cancellationToken: Ct);
                Assert.True(found.Hit, $"acknowledged Set '{prompt}' (id {id}) was lost");
            }

            GetResponse semantic = await client.GetAsync(new GetRequest { Namespace = "fill", Vector = { 0f, 1f, 0f, 0f }, MinSimilarity = 0.999f }, cancellationToken: Ct);
            Assert.Equal(acknowledged[^1].Id, Assert.Single(semantic.Matches).Id);
            Assert.Equal(0, await server.TerminateAsync());
        }
    }
}
