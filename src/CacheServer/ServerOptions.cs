namespace SemCache.CacheServer;

/// <summary>Network and request limits of the server. Every default is stated on its property.</summary>
public sealed class ServerOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Server";

    /// <summary>Address to listen on. Default: <c>127.0.0.1</c> (loopback only; use <c>0.0.0.0</c> to serve other hosts).</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>gRPC port (HTTP/2 cleartext). Default: 50051.</summary>
    public int Port { get; set; } = 50051;

    /// <summary>HTTP/1.1 port: the JSON API, <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c>. Default: 8080. Zero disables it.</summary>
    public int HttpPort { get; set; } = 8080;

    /// <summary>Most texts in one Embed call. Default: 256.</summary>
    public int MaxEmbedTexts { get; set; } = 256;

    /// <summary>Longest text, in characters, that Embed accepts. Default: 65,536.</summary>
    public int MaxTextChars { get; set; } = 65_536;

    /// <summary>
    /// Largest request, in bytes, on either port: a gRPC message (RESOURCE_EXHAUSTED beyond it) or an HTTP/JSON body
    /// (413 beyond it). Default: 16,777,216 (16 MiB). Range 4,096 to 1,073,741,824 (1 GiB).
    /// </summary>
    public int MaxRequestBytes { get; set; } = 16 << 20;

    /// <summary>Checks every option; throws naming the option and its allowed range.</summary>
    public void Validate()
    {
        if (!System.Net.IPAddress.TryParse(Host, out _) && Host != "localhost")
        {
            throw new ArgumentException($"Server:Host '{Host}' is not an IP address or 'localhost'.", nameof(Host));
        }

        if (Port is < 1 or > 65535)
        {
            throw new ArgumentException($"Server:Port is {Port}; it must be between 1 and 65535.", nameof(Port));
        }

        if (HttpPort is < 0 or > 65535 || (HttpPort != 0 && HttpPort == Port))
        {
            throw new ArgumentException($"Server:HttpPort is {HttpPort}; it must be between 0 (off) and 65535 and differ from Server:Port.", nameof(HttpPort));
        }

        if (MaxEmbedTexts is < 1 or > 65_536)
        {
            throw new ArgumentException($"Server:MaxEmbedTexts is {MaxEmbedTexts}; it must be between 1 and 65536.", nameof(MaxEmbedTexts));
        }

        if (MaxRequestBytes is < 4096 or > 1 << 30)
        {
            throw new ArgumentException($"Server:MaxRequestBytes is {MaxRequestBytes}; it must be between 4096 and 1073741824.", nameof(MaxRequestBytes));
        }

        if (MaxTextChars is < 1 or > 16 * 1024 * 1024)
        {
            throw new ArgumentException($"Server:MaxTextChars is {MaxTextChars}; it must be between 1 and 16777216.", nameof(MaxTextChars));
        }
    }
}
