using System.Collections.Concurrent;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using SemCache.Protocol.V1;

namespace SemCache.CacheServer.Tests;

/// <summary>SIGKILL while the server checkpoints under concurrent Sets, several times over the same data directory.</summary>
public sealed partial class RealProcessTests
{
    private static readonly string[] Verbs = ["reset", "renew", "cancel", "export", "rename", "share", "archive", "restore"];
    private static readonly string[] Things = ["password", "invoice", "subscription", "calendar", "playlist", "repository", "mailbox", "passport"];

    [Fact]
    public async Task AfterEveryKillDuringCheckpointsEachAcknowledgedSetIsFoundByTheSemanticLayer()
    {
        string data = Path.Combine(Path.GetTempPath(), "semcache-checkpoint-crash-" + Guid.NewGuid().ToString("N"));
        string[] flags = ["--durability", "strict", "--Storage:CheckpointInterval", "00:00:00.150"];
        var acknowledged = new ConcurrentDictionary<string, string>(StringComparer.Ordinal); // prompt → id
        try
        {
            for (int round = 0; round < 3; round++)
            {
                using ServerProcess server = await ServerProcess.StartAsync(data, flags);
                using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{server.Port}");
                var client = new SemanticCache.SemanticCacheClient(channel);
                int before = acknowledged.Count;
                using var stop = new CancellationTokenSource();
                Task[] writers = Enumerable.Range(0, 24).Select(w => Task.Run(async () =>
                {
                    for (int i = 0; i < 10_000 && !stop.IsCancellationRequested; i++)
                    {
                        string prompt = string.Create(CultureInfo.InvariantCulture, $"How do I {Verbs[(w + i) % Verbs.Length]} the {Things[(w * 3 + i) % Things.Length]} of account {round}-{w}-{i}?");
                        try
                        {
                            SetResponse set = await client.SetAsync(new SetRequest { Prompt = prompt, Response = $"answer {round}/{w}/{i}" });
                            acknowledged[prompt] = set.Id;
                        }
                        catch (RpcException)
                        {
                            return; // the server is gone: this Set was never acknowledged
                        }
                    }
                })).ToArray();

                // Killed at a different moment of the checkpoint cycle each round, with Sets in flight.
                while (acknowledged.Count < before + 150)
                {
                    await Task.Delay(10, Ct);
                }

                await Task.Delay(37 + (round * 53), Ct);
                server.KillHard();
                await stop.CancelAsync();
                await Task.WhenAll(writers);
            }

            using (ServerProcess server = await ServerProcess.StartAsync(data, flags))
            {
                using GrpcChannel channel = GrpcChannel.ForAddress($"http://127.0.0.1:{server.Port}");
                var client = new SemanticCache.SemanticCacheClient(channel);
                Assert.True((await client.StatsAsync(new StatsRequest(), cancellationToken: Ct)).Entries >= (ulong)acknowledged.Count);

                // The model is uncased and the exact layer is not: the prompt in capitals embeds exactly as the stored one
                // but misses the exact layer, so only a searchable vector can answer it.
                var missing = new List<string>();
                foreach ((string prompt, string id) in acknowledged)
                {
                    GetResponse found = await client.GetAsync(new GetRequest { Prompt = prompt.ToUpperInvariant(), MinSimilarity = 0.99f }, cancellationToken: Ct);
                    if (!found.Hit || found.Matches[0].Id != id || found.Matches[0].Exact)
                    {
                        missing.Add($"{id} '{prompt}'");
                    }
                }

                Assert.True(missing.Count == 0, $"{missing.Count} of {acknowledged.Count} acknowledged Sets are not found semantically after the kills: {string.Join("; ", missing.Take(5))}\n{server.Output}");
                Assert.Equal(0, await server.TerminateAsync());
            }
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }
}
