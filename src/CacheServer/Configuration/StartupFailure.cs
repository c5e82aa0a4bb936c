using System.Globalization;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;

namespace SemCache.CacheServer.Configuration;

/// <summary>Turns whatever stopped the start into the one line the operator reads.</summary>
public static class StartupFailure
{
    /// <summary>One line naming the option or path and what would fix it (no type names, no stack trace).</summary>
    /// <param name="failure">What was thrown.</param>
    /// <param name="server">The server's options, where they were read (to say which port could not be bound).</param>
    public static string Describe(Exception failure, ServerOptions? server)
    {
        ArgumentNullException.ThrowIfNull(failure);
        string line = failure switch
        {
            StartupException e => e.Message,
            OptionsValidationException e => "invalid configuration: " + string.Join("; ", e.Failures),
            AggregateException e => string.Join("; ", e.Flatten().InnerExceptions.Select(inner => Describe(inner, server))),
            IOException e when IsBindFailure(e) => Bind(e, server),
            _ => failure.Message,
        };
        return line.ReplaceLineEndings(" ");
    }

    private static bool IsBindFailure(IOException e) =>
        e.InnerException is AddressInUseException || e.Message.StartsWith("Failed to bind to address", StringComparison.Ordinal);

    private static string Bind(IOException e, ServerOptions? server)
    {
        string option = "Server:Port (--port) or Server:HttpPort (--http-port)";
        if (server is not null)
        {
            string grpc = ":" + server.Port.ToString(CultureInfo.InvariantCulture) + ":";
            string http = ":" + server.HttpPort.ToString(CultureInfo.InvariantCulture) + ":";
            option = e.Message.Contains(grpc, StringComparison.Ordinal) ? $"Server:Port {server.Port} (--port)"
                : e.Message.Contains(http, StringComparison.Ordinal) ? $"Server:HttpPort {server.HttpPort} (--http-port)"
                : option;
        }

        string reason = e.InnerException is AddressInUseException
            ? "is in use by another process: stop it, or choose another port"
            : $"cannot be listened on ({e.Message}): choose another port or Server:Host";
        return $"{option} {reason}";
    }
}
