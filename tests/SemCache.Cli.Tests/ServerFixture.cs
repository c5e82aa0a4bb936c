using System.Net;
using System.Net.Sockets;
using SemCache.Cli;
using SemCache.Cli.Tests;

[assembly: AssemblyFixture(typeof(ServerFixture))]

namespace SemCache.Cli.Tests;

/// <summary>The real server, in process on a TestServer over its own data directory, with the model loaded once for all tests.</summary>
public sealed class ServerFixture : IAsyncDisposable
{
    private readonly InProcessServer _server = InProcessServer.Start();

    /// <summary>The in-process server's handler.</summary>
    public HttpMessageHandler Handler => _server.Handler;

    /// <summary>A namespace of its own, so that tests do not see each other's entries.</summary>
    public static string NewNamespace() => "t" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>Runs the command line against the in-process server; the address is the TestServer's.</summary>
    public async Task<CliRun> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = await CliApp.RunAsync([.. args, "--address", "http://localhost"], stdout, stderr, Handler, TestContext.Current.CancellationToken);
        return new CliRun(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs the command line against no server: a loopback port that nothing listens on.</summary>
    public static async Task<CliRun> RunAgainstClosedPortAsync(params string[] args)
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
        }

        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        int code = await CliApp.RunAsync([.. args, "--address", $"http://127.0.0.1:{port}", "--timeout", "10s"], stdout, stderr, null, TestContext.Current.CancellationToken);
        return new CliRun(code, stdout.ToString(), stderr.ToString());
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}

/// <summary>What one run of the command line printed and returned.</summary>
public sealed record CliRun(int ExitCode, string Stdout, string Stderr);
