using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using SemCache.CacheServer.Configuration;
using YamlDotNet.RepresentationModel;

namespace SemCache.CacheServer.Tests;

/// <summary>
/// deploy/ (Dockerfile, compose, Kubernetes, systemd) cannot be run here, so what can be checked is: the manifests
/// parse, their probes and scrape paths answer on a real server, their ports are the server's defaults, every option
/// they set exists, and every grace period covers the server's drain plus a checkpoint.
/// </summary>
public sealed partial class DeploymentFilesTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly ServerOptions Defaults = new();

    // What the final checkpoint gets after the drain, at least (docs: README, Deployment).
    private static readonly TimeSpan CheckpointAllowance = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TheKubernetesProbesAreTheServersHealthEndpointsAndTheyAnswer()
    {
        YamlMappingNode statefulSet = Documents("deploy/kubernetes/semcache.yaml").Single(d => Scalar(d, "kind") == "StatefulSet");
        var pod = (YamlMappingNode)Node(statefulSet, "spec", "template", "spec");
        var container = (YamlMappingNode)((YamlSequenceNode)Node(pod, "containers")).Children.Single();
        Dictionary<string, int> ports = ((YamlSequenceNode)Node(container, "ports")).Children.Cast<YamlMappingNode>()
            .ToDictionary(p => Scalar(p, "name"), p => int.Parse(Scalar(p, "containerPort"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(Defaults.Port, ports["grpc"]);
        Assert.Equal(Defaults.HttpPort, ports["http"]);

        (string Path, int Port) Probe(string name)
        {
            var get = (YamlMappingNode)Node(container, name, "httpGet");
            return (Scalar(get, "path"), ports[Scalar(get, "port")]);
        }

        Assert.Equal(("/healthz", Defaults.HttpPort), Probe("livenessProbe"));
        Assert.Equal(("/healthz", Defaults.HttpPort), Probe("startupProbe"));
        Assert.Equal(("/readyz", Defaults.HttpPort), Probe("readinessProbe"));

        // SIGTERM → drain → final checkpoint, after the preStop pause.
        int grace = int.Parse(Scalar(pod, "terminationGracePeriodSeconds"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(TimeSpan.FromSeconds(grace) >= SemCacheServer.ShutdownDrain + CheckpointAllowance + TimeSpan.FromSeconds(5), $"terminationGracePeriodSeconds {grace} is too short");

        // The volume the store lives on is the claim's.
        var mounts = ((YamlSequenceNode)Node(container, "volumeMounts")).Children.Cast<YamlMappingNode>().ToDictionary(m => Scalar(m, "name"), m => Scalar(m, "mountPath"));
        string claim = Scalar((YamlMappingNode)((YamlSequenceNode)Node(statefulSet, "spec", "volumeClaimTemplates")).Children.Single(), "metadata", "name");
        Assert.Equal(EnvironmentOf(container)["SEMCACHE_Storage__DataDirectory"], mounts[claim]);

        await AssertTheyAnswer("/healthz", "/readyz");
    }

    [Fact]
    public async Task TheImageAndComposeProbeAndScrapeWhatTheServerServes()
    {
        string dockerfile = Read("deploy/Dockerfile");
        Match health = HealthCheckUrl().Match(dockerfile);
        Assert.True(health.Success, "deploy/Dockerfile has no HEALTHCHECK with a URL");
        Assert.Equal(Defaults.HttpPort, int.Parse(health.Groups["port"].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Matches($@"(?m)^EXPOSE\s+{Defaults.Port}\s+{Defaults.HttpPort}\s*$", dockerfile);
        Assert.Matches(@"(?m)^USER\s+\$APP_UID\s*$", dockerfile);
        Assert.Matches(@"(?m)^VOLUME\s+/data\s*$", dockerfile);

        YamlMappingNode compose = Documents("deploy/compose.yaml").Single();
        var semcache = (YamlMappingNode)Node(compose, "services", "semcache");
        Assert.True(ParseDuration(Scalar(semcache, "stop_grace_period")) >= SemCacheServer.ShutdownDrain + CheckpointAllowance);

        YamlMappingNode prometheus = Documents("deploy/prometheus.yml").Single();
        var job = (YamlMappingNode)((YamlSequenceNode)Node(prometheus, "scrape_configs")).Children.Single();
        string target = ((YamlSequenceNode)Node((YamlMappingNode)((YamlSequenceNode)Node(job, "static_configs")).Children.Single(), "targets")).Children.Single().ToString();
        Assert.Equal($"semcache:{Defaults.HttpPort}", target);

        await AssertTheyAnswer(health.Groups["path"].Value, Scalar(job, "metrics_path"));
    }

    [Fact]
    public void TheSystemdUnitWaitsForReadinessAndCoversTheShutdown()
    {
        Dictionary<string, string> unit = Read("deploy/systemd/semcache.service").Split('\n')
            .Select(l => l.Trim()).Where(l => l.Length > 0 && l[0] != '#' && l[0] != '[' && l.Contains('=', StringComparison.Ordinal))
            .Select(l => l.Split('=', 2)).GroupBy(kv => kv[0]).ToDictionary(g => g.Key, g => g.Last()[1]);
        Assert.Equal("notify", unit["Type"]);
        Assert.Equal("SIGTERM", unit["KillSignal"]);
        Assert.True(TimeSpan.FromSeconds(int.Parse(unit["TimeoutStopSec"], System.Globalization.CultureInfo.InvariantCulture)) >= SemCacheServer.ShutdownDrain + CheckpointAllowance);
        Assert.NotEqual("root", unit["User"]);
        Assert.StartsWith("/opt/semcache/semcache-server ", unit["ExecStart"], StringComparison.Ordinal);
    }

    [Fact]
    public void EveryOptionTheDeploymentFilesSetExists()
    {
        var declared = OptionCatalog.All.Select(o => o.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var seen = new List<string>();
        foreach (string file in Directory.EnumerateFiles(Path.Combine(RepositoryFiles.Root, "deploy"), "*", SearchOption.AllDirectories))
        {
            foreach (Match m in EnvironmentOption().Matches(File.ReadAllText(file)))
            {
                string key = $"{m.Groups["section"].Value}:{m.Groups["key"].Value}";
                Assert.True(declared.Contains(key), $"{Path.GetFileName(file)} sets {m.Value}, but {key} is no option");
                seen.Add(key);
            }

            foreach (Match command in ServerCommandLine().Matches(File.ReadAllText(file)))
            {
                foreach (Match flag in Flag().Matches(command.Groups["args"].Value))
                {
                    string name = flag.Value;
                    bool known = OptionCatalog.Flags.ContainsKey(name) || declared.Contains(name[2..]);
                    Assert.True(known, $"{Path.GetFileName(file)} passes {name}, which is no flag or option");
                    seen.Add(OptionCatalog.Flags.TryGetValue(name, out string? key) ? key : name[2..]);
                }
            }
        }

        Assert.Contains("Storage:DataDirectory", seen);
        Assert.Contains("Server:Host", seen);
    }

    private static async Task AssertTheyAnswer(params string[] paths)
    {
        string data = Path.Combine(Path.GetTempPath(), "semcache-deploy-test-" + Guid.NewGuid().ToString("N"));
        await using WebApplication app = SemCacheServer.Build(["--data-dir", data], builder => builder.WebHost.UseTestServer());
        await app.StartAsync(Ct);
        try
        {
            using HttpClient http = app.GetTestServer().CreateClient();
            foreach (string path in paths)
            {
                using HttpResponseMessage response = await http.GetAsync(new Uri(path, UriKind.Relative), Ct);
                Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path} answered {(int)response.StatusCode}");
            }
        }
        finally
        {
            await app.StopAsync(Ct);
            Directory.Delete(data, recursive: true);
        }
    }

    private static Dictionary<string, string> EnvironmentOf(YamlMappingNode container) =>
        ((YamlSequenceNode)Node(container, "env")).Children.Cast<YamlMappingNode>().ToDictionary(e => Scalar(e, "name"), e => Scalar(e, "value"));

    private static TimeSpan ParseDuration(string compose) =>
        compose.EndsWith('s') ? TimeSpan.FromSeconds(int.Parse(compose[..^1], System.Globalization.CultureInfo.InvariantCulture))
        : compose.EndsWith('m') ? TimeSpan.FromMinutes(int.Parse(compose[..^1], System.Globalization.CultureInfo.InvariantCulture))
        : throw new FormatException($"unexpected duration '{compose}'");

    private static List<YamlMappingNode> Documents(string path)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(Read(path)));
        return [.. stream.Documents.Select(d => (YamlMappingNode)d.RootNode)];
    }

    private static YamlNode Node(YamlMappingNode node, params string[] path)
    {
        YamlNode current = node;
        foreach (string key in path)
        {
            Assert.True(((YamlMappingNode)current).Children.TryGetValue(new YamlScalarNode(key), out YamlNode? next), $"no '{key}' in the manifest");
            current = next!;
        }

        return current;
    }

    private static string Scalar(YamlMappingNode node, params string[] path) => ((YamlScalarNode)Node(node, path)).Value!;

    private static string Read(string relative) => File.ReadAllText(Path.Combine(RepositoryFiles.Root, relative)).ReplaceLineEndings("\n");

    [GeneratedRegex(@"HEALTHCHECK[^\n]*(?:\\\n[^\n]*)*?http://127\.0\.0\.1:(?<port>\d+)(?<path>/[a-z]+)")]
    private static partial Regex HealthCheckUrl();

    [GeneratedRegex(@"SEMCACHE_(?<section>[A-Za-z]+)__(?<key>[A-Za-z]+)")]
    private static partial Regex EnvironmentOption();

    [GeneratedRegex(@"semcache-server(?<args>[^\n""]*)")]
    private static partial Regex ServerCommandLine();

    [GeneratedRegex(@"(?<=^|\s)--[A-Za-z][A-Za-z0-9:-]*")]
    private static partial Regex Flag();
}
