using System.Text.Json;
using System.Text.Json.Nodes;

namespace SemCache.Proxy;

/// <summary>What the proxy makes of one request: how to look it up and store it, or why it is only forwarded.</summary>
internal sealed class ParsedRequest
{
    /// <summary>Why the request is forwarded without caching, or null when it is cacheable.</summary>
    public string? Bypass { get; init; }

    /// <summary>The caller asked for a stream.</summary>
    public bool Stream { get; init; }

    /// <summary>The caller asked for the usage chunk at the end of a stream (OpenAI's <c>stream_options.include_usage</c>).</summary>
    public bool CallerWantsUsage { get; init; }

    /// <summary>The body sent to the provider: the caller's, or the caller's with usage asked for on a stream.</summary>
    public required ReadOnlyMemory<byte> UpstreamBody { get; init; }

    /// <summary>The matched text: the last user message's text (or, for a last message that is not plain user text, its hash).</summary>
    public string Prompt { get; init; } = "";

    /// <summary>Only exact matches: the last message is not a user's text (a tool result, a prefill).</summary>
    public bool ExactOnly { get; init; }

    /// <summary>Hash of the canonical JSON of every message before the matched one; empty when there is none.</summary>
    public string ContextHash { get; init; } = "";

    /// <summary>The model asked for.</summary>
    public string Model { get; init; } = "";

    /// <summary>Hash of the canonical JSON of every request field that can change the answer (all but the messages and a few named ones).</summary>
    public string ParametersHash { get; init; } = "";

    /// <summary>Hash of what the matched message carries besides its text (images, documents, tool results), or empty.</summary>
    public string AttachmentsHash { get; init; } = "";

    public static ParsedRequest Bypassed(string reason, ReadOnlyMemory<byte> body, bool stream = false) =>
        new() { Bypass = reason, UpstreamBody = body, Stream = stream };
}

/// <summary>A provider's answer in its non-streamed form, as it is stored and replayed.</summary>
/// <param name="Body">The non-streamed response body.</param>
/// <param name="Model">The model that answered.</param>
/// <param name="InputTokens">Prompt tokens it billed.</param>
/// <param name="OutputTokens">Completion tokens it billed.</param>
internal sealed record StoredAnswer(JsonObject Body, string Model, uint InputTokens, uint OutputTokens);

/// <summary>What the proxy does with one event of a streamed answer it passes through.</summary>
internal enum StreamEventAction
{
    /// <summary>Pass it on now.</summary>
    Forward,

    /// <summary>Do not pass it on (the usage chunk the caller did not ask for).</summary>
    Drop,

    /// <summary>The stream's last event: pass it on once the answer is stored.</summary>
    Terminal,
}

/// <summary>Rebuilds a streamed answer's non-streamed form from its events, to store it once it is complete.</summary>
internal interface IStreamAssembler
{
    StreamEventAction Accept(in SseEvent e);

    /// <summary>The answer, or null when the stream did not end properly or held something that cannot be replayed.</summary>
    StoredAnswer? Result();
}

/// <summary>One provider API's wire format: request keys, answers, streams and errors.</summary>
internal abstract class ProviderApi
{
    /// <summary>The value of the partition's <c>semcache.api</c> attribute.</summary>
    public abstract string Name { get; }

    /// <summary>The endpoint's path under the provider's base address.</summary>
    public abstract string Path { get; }

    /// <summary>The headers whose values identify the caller's account (hashed into the partition).</summary>
    public abstract IReadOnlyList<string> CredentialHeaders { get; }

    /// <summary>Request headers that can change the answer (API versions, beta features): part of the key.</summary>
    public abstract IReadOnlyList<string> AnswerHeaders { get; }

    public abstract UpstreamOptions Upstream(ProxyOptions options);

    public abstract ParsedRequest Parse(ReadOnlyMemory<byte> body);

    /// <summary>An error the proxy itself answers, in the API's own error format.</summary>
    public abstract byte[] Error(int status, string message, string? param);

    /// <summary>The answer to store from a non-streamed 2xx body, or null when it is not one answer that can be replayed.</summary>
    public abstract StoredAnswer? FromBody(ReadOnlySpan<byte> body);

    public abstract IStreamAssembler Assembler(bool dropUsage);

    /// <summary>A stored answer as a non-streamed response body, with a fresh id and creation time.</summary>
    public abstract byte[] ReplayBody(JsonObject stored, DateTimeOffset now);

    /// <summary>A stored answer as the events of a stream.</summary>
    public abstract IEnumerable<byte[]> ReplayStream(JsonObject stored, bool includeUsage, DateTimeOffset now);

    protected static string NewId(string prefix) => prefix + Guid.NewGuid().ToString("N")[..24];

    /// <summary>Hash of the canonical JSON of the request object without the fields that cannot change the answer.</summary>
    protected static string ParametersHash(JsonElement root, HashSet<string> notInKey) =>
        CanonicalJson.Hash(writer => CanonicalJson.WriteObject(writer, root, name => !notInKey.Contains(name)));

    protected static uint Tokens(JsonNode? node) =>
        node is JsonValue v && v.TryGetValue(out long n) && n > 0 ? (uint)Math.Min(n, uint.MaxValue) : 0;

    protected static bool IsNumber(JsonElement e, out double value)
    {
        value = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out value);
    }

    /// <summary>
    /// Splits text into pieces of at most <paramref name="size"/> characters, never inside a surrogate pair, so a replayed
    /// stream arrives in chunks as a real one does and concatenates back to exactly the stored text.
    /// </summary>
    protected static IEnumerable<string> Pieces(string text, int size = 64)
    {
        int i = 0;
        while (i < text.Length)
        {
            int n = Math.Min(size, text.Length - i);
            if (n < text.Length - i && char.IsHighSurrogate(text[i + n - 1]))
            {
                n--;
            }

            yield return text.Substring(i, n);
            i += n;
        }
    }

    protected static byte[] Json(JsonNode node) => System.Text.Encoding.UTF8.GetBytes(node.ToJsonString(ProxyJson.Options));
}

internal static class ProxyJson
{
    /// <summary>Compact, and without escaping non-ASCII text (a replayed answer keeps its characters as they were).</summary>
    public static readonly JsonSerializerOptions Options = new() { WriteIndented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
