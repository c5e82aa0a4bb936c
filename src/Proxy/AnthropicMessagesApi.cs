using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SemCache.Proxy;

/// <summary>Anthropic Messages (<c>POST /v1/messages</c>).</summary>
internal sealed class AnthropicMessagesApi : ProviderApi
{
    public static readonly AnthropicMessagesApi Instance = new();

    // Request fields that cannot change the answer; every other field (system, tools, thinking, unknown ones) is in the key.
    private static readonly HashSet<string> NotInKey = new(StringComparer.Ordinal) { "messages", "stream", "metadata" };

    public override string Name => "anthropic.messages";

    public override string Path => "messages";

    public override IReadOnlyList<string> CredentialHeaders { get; } = ["x-api-key", "authorization"];

    public override IReadOnlyList<string> AnswerHeaders { get; } = ["anthropic-version", "anthropic-beta"];

    public override UpstreamOptions Upstream(ProxyOptions options) => options.Anthropic;

    public override ParsedRequest Parse(ReadOnlyMemory<byte> body)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            return ParsedRequest.Bypassed("the body is not JSON", body);
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return ParsedRequest.Bypassed("the body is not a JSON object", body);
            }

            bool stream = root.TryGetProperty("stream", out JsonElement s) && s.ValueKind == JsonValueKind.True;
            if (!root.TryGetProperty("messages", out JsonElement messages) || messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            {
                return ParsedRequest.Bypassed("no messages", body, stream);
            }

            if (MatchedText.From(messages, "user", IsTextBlock) is not MatchedText matched)
            {
                return ParsedRequest.Bypassed("a message is not a JSON object with a role", body, stream);
            }

            return new ParsedRequest
            {
                Stream = stream,
                UpstreamBody = body,
                Prompt = matched.Text,
                ExactOnly = matched.ExactOnly,
                ContextHash = matched.ContextHash,
                AttachmentsHash = matched.AttachmentsHash,
                Model = root.TryGetProperty("model", out JsonElement model) && model.ValueKind == JsonValueKind.String ? model.GetString()! : "",
                ParametersHash = ParametersHash(root, NotInKey),
            };
        }
    }

    private static bool IsTextBlock(JsonElement block) =>
        block.TryGetProperty("type", out JsonElement t) && t.ValueEquals("text") && block.TryGetProperty("text", out JsonElement x) && x.ValueKind == JsonValueKind.String;

    public override byte[] Error(int status, string message, string? param) => Json(new JsonObject
    {
        ["type"] = "error",
        ["error"] = new JsonObject { ["type"] = status < 500 ? "invalid_request_error" : "api_error", ["message"] = message },
    });

    public override StoredAnswer? FromBody(ReadOnlySpan<byte> body)
    {
        JsonObject? root;
        try
        {
            root = JsonNode.Parse(body) as JsonObject;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            return null;
        }

        return root is not null && root["type"] is JsonValue t && t.TryGetValue(out string? type) && type == "message"
            && root["content"] is JsonArray && root["stop_reason"] is JsonValue
            ? Answer(root) : null;
    }

    private static StoredAnswer Answer(JsonObject body)
    {
        JsonNode? usage = body["usage"];
        uint input = Tokens(usage?["input_tokens"]) + Tokens(usage?["cache_creation_input_tokens"]) + Tokens(usage?["cache_read_input_tokens"]);
        return new StoredAnswer(body, body["model"] is JsonValue m && m.TryGetValue(out string? model) ? model : "", input, Tokens(usage?["output_tokens"]));
    }

    public override IStreamAssembler Assembler(bool dropUsage) => new StreamAssembler();

    public override byte[] ReplayBody(JsonObject stored, DateTimeOffset now)
    {
        var body = (JsonObject)stored.DeepClone();
        body["id"] = NewId("msg_");
        return Json(body);
    }

    public override IEnumerable<byte[]> ReplayStream(JsonObject stored, bool includeUsage, DateTimeOffset now)
    {
        var start = (JsonObject)stored.DeepClone();
        start["id"] = NewId("msg_");
        start["content"] = new JsonArray();
        start["stop_reason"] = null;
        start["stop_sequence"] = null;
        JsonObject usage = stored["usage"] is JsonObject u ? (JsonObject)u.DeepClone() : [];
        JsonNode? outputTokens = usage["output_tokens"]?.DeepClone();
        usage["output_tokens"] = 0;
        start["usage"] = usage;
        yield return Event("message_start", new JsonObject { ["type"] = "message_start", ["message"] = start });

        var content = (JsonArray)stored["content"]!;
        for (int i = 0; i < content.Count; i++)
        {
            var block = (JsonObject)content[i]!;
            string type = block["type"] is JsonValue tv && tv.TryGetValue(out string? t) ? t : "";
            var opening = (JsonObject)block.DeepClone();
            var deltas = new List<JsonObject>();
            switch (type)
            {
                case "text":
                    opening["text"] = "";
                    foreach (string piece in Pieces(block["text"]?.GetValue<string>() ?? ""))
                    {
                        deltas.Add(new JsonObject { ["type"] = "text_delta", ["text"] = piece });
                    }

                    break;
                case "thinking":
                    opening["thinking"] = "";
                    opening.Remove("signature");
                    foreach (string piece in Pieces(block["thinking"]?.GetValue<string>() ?? ""))
                    {
                        deltas.Add(new JsonObject { ["type"] = "thinking_delta", ["thinking"] = piece });
                    }

                    if (block["signature"] is JsonNode signature)
                    {
                        deltas.Add(new JsonObject { ["type"] = "signature_delta", ["signature"] = signature.DeepClone() });
                    }

                    break;
                case "tool_use" or "server_tool_use":
                    opening["input"] = new JsonObject();
                    deltas.Add(new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = block["input"]?.ToJsonString(ProxyJson.Options) ?? "{}" });
                    break;
            }

            yield return Event("content_block_start", new JsonObject { ["type"] = "content_block_start", ["index"] = i, ["content_block"] = opening });
            foreach (JsonObject delta in deltas)
            {
                yield return Event("content_block_delta", new JsonObject { ["type"] = "content_block_delta", ["index"] = i, ["delta"] = delta });
            }

            yield return Event("content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = i });
        }

        yield return Event("message_delta", new JsonObject
        {
            ["type"] = "message_delta",
            ["delta"] = new JsonObject { ["stop_reason"] = stored["stop_reason"]?.DeepClone(), ["stop_sequence"] = stored["stop_sequence"]?.DeepClone() },
            ["usage"] = new JsonObject { ["output_tokens"] = outputTokens },
        });
        yield return Event("message_stop", new JsonObject { ["type"] = "message_stop" });
    }

    private static byte[] Event(string type, JsonNode data) =>
        [.. Encoding.UTF8.GetBytes("event: " + type + "\ndata: "), .. Json(data), .. "\n\n"u8];

    /// <summary>Rebuilds a <c>message</c> from the events of a stream.</summary>
    private sealed class StreamAssembler : IStreamAssembler
    {
        private readonly Dictionary<int, StringBuilder> _json = [];
        private JsonObject? _message;
        private bool _stopped;
        private bool _broken;

        public StreamEventAction Accept(in SseEvent e)
        {
            if (e.Data.Length == 0 || e.Type == "ping")
            {
                return StreamEventAction.Forward;
            }

            JsonObject? data;
            try
            {
                data = JsonNode.Parse(e.Data) as JsonObject;
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException)
            {
                data = null;
            }

            string? type = data?["type"] is JsonValue tv && tv.TryGetValue(out string? t) ? t : null;
            if (data is null || type is null || _stopped)
            {
                _broken = true;
                return StreamEventAction.Forward;
            }

            try
            {
                return Apply(type, data);
            }
            catch (Exception ex) when (ex is InvalidOperationException or FormatException)
            {
                _broken = true; // a field of another type than the API's (a number where text belongs)
                return StreamEventAction.Forward;
            }
        }

        private StreamEventAction Apply(string type, JsonObject data)
        {
            switch (type)
            {
                case "message_start" when data["message"] is JsonObject message:
                    _message = (JsonObject)message.DeepClone();
                    _message["content"] = new JsonArray();
                    break;
                case "content_block_start" when _message is not null && Index(data) is int index && data["content_block"] is JsonObject block:
                    var content = (JsonArray)_message["content"]!;
                    if (index != content.Count)
                    {
                        _broken = true;
                        break;
                    }

                    content.Add(block.DeepClone());
                    break;
                case "content_block_delta" when Block(data) is (int index, JsonObject block) && data["delta"] is JsonObject delta:
                    Delta(index, block, delta);
                    break;
                case "content_block_stop" when Block(data) is (int index, JsonObject block):
                    if (_json.Remove(index, out StringBuilder? json))
                    {
                        try
                        {
                            block["input"] = json.Length == 0 ? new JsonObject() : JsonNode.Parse(json.ToString());
                        }
                        catch (JsonException)
                        {
                            _broken = true;
                        }
                    }

                    break;
                case "message_delta" when _message is not null:
                    if (data["delta"] is JsonObject changes)
                    {
                        foreach ((string name, JsonNode? value) in changes)
                        {
                            _message[name] = value?.DeepClone();
                        }
                    }

                    if (data["usage"] is JsonObject usage)
                    {
                        JsonObject total = _message["usage"] as JsonObject ?? [];
                        foreach ((string name, JsonNode? value) in usage)
                        {
                            total[name] = value?.DeepClone();
                        }

                        _message["usage"] = total;
                    }

                    break;
                case "message_stop":
                    _stopped = true;
                    return StreamEventAction.Terminal;
                default:
                    _broken = true; // an error event, an event out of order, or one this proxy does not know
                    break;
            }

            return StreamEventAction.Forward;
        }

        private static int? Index(JsonObject data) => data["index"] is JsonValue v && v.TryGetValue(out int index) ? index : null;

        private (int, JsonObject)? Block(JsonObject data) =>
            _message?["content"] is JsonArray content && Index(data) is int index && index >= 0 && index < content.Count && content[index] is JsonObject block
                ? (index, block) : null;

        private void Delta(int index, JsonObject block, JsonObject delta)
        {
            string? type = delta["type"] is JsonValue tv && tv.TryGetValue(out string? t) ? t : null;
            switch (type)
            {
                case "text_delta":
                    block["text"] = (block["text"]?.GetValue<string>() ?? "") + (delta["text"]?.GetValue<string>() ?? "");
                    break;
                case "thinking_delta":
                    block["thinking"] = (block["thinking"]?.GetValue<string>() ?? "") + (delta["thinking"]?.GetValue<string>() ?? "");
                    break;
                case "signature_delta":
                    block["signature"] = delta["signature"]?.DeepClone();
                    break;
                case "input_json_delta":
                    if (!_json.TryGetValue(index, out StringBuilder? json))
                    {
                        _json[index] = json = new StringBuilder();
                    }

                    json.Append(delta["partial_json"]?.GetValue<string>() ?? "");
                    break;
                case "citations_delta" when delta["citation"] is JsonNode citation:
                    if (block["citations"] is not JsonArray citations)
                    {
                        block["citations"] = citations = [];
                    }

                    citations.Add(citation.DeepClone());
                    break;
                default:
                    _broken = true;
                    break;
            }
        }

        public StoredAnswer? Result() =>
            _stopped && !_broken && _json.Count == 0 && _message is not null && _message["stop_reason"] is JsonValue ? Answer(_message) : null;
    }
}
