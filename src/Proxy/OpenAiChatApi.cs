using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SemCache.Proxy;

/// <summary>OpenAI Chat Completions (<c>POST /v1/chat/completions</c>), also spoken by most OpenAI-compatible servers.</summary>
internal sealed class OpenAiChatApi : ProviderApi
{
    public static readonly OpenAiChatApi Instance = new();

    // Request fields that cannot change the answer; every other field, known or not, is part of the key.
    private static readonly HashSet<string> NotInKey = new(StringComparer.Ordinal)
    {
        "messages", "stream", "stream_options", "user", "metadata", "store", "prompt_cache_key", "safety_identifier",
    };

    public override string Name => "openai.chat";

    public override string Path => "chat/completions";

    public override IReadOnlyList<string> CredentialHeaders { get; } = ["authorization", "api-key", "openai-organization", "openai-project"];

    public override IReadOnlyList<string> AnswerHeaders { get; } = ["openai-beta"];

    public override UpstreamOptions Upstream(ProxyOptions options) => options.OpenAI;

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
            if (root.TryGetProperty("n", out JsonElement n) && n.ValueKind != JsonValueKind.Null && !(IsNumber(n, out double count) && count == 1))
            {
                return ParsedRequest.Bypassed("n is not 1: several choices are not cached", body, stream);
            }

            if (root.TryGetProperty("logprobs", out JsonElement logprobs) && logprobs.ValueKind == JsonValueKind.True)
            {
                return ParsedRequest.Bypassed("logprobs are not cached", body, stream);
            }

            if (root.TryGetProperty("audio", out JsonElement audio) && audio.ValueKind != JsonValueKind.Null)
            {
                return ParsedRequest.Bypassed("audio answers are not cached", body, stream);
            }

            if (!root.TryGetProperty("messages", out JsonElement messages) || messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            {
                return ParsedRequest.Bypassed("no messages", body, stream);
            }

            if (MatchedText.From(messages, "user", IsTextPart) is not MatchedText matched)
            {
                return ParsedRequest.Bypassed("a message is not a JSON object with a role", body, stream);
            }

            bool wantsUsage = stream && root.TryGetProperty("stream_options", out JsonElement so) && so.ValueKind == JsonValueKind.Object
                && so.TryGetProperty("include_usage", out JsonElement iu) && iu.ValueKind == JsonValueKind.True;
            ReadOnlyMemory<byte> upstream = body;
            if (stream && !wantsUsage)
            {
                // Ask for usage on every stream, so the stored answer knows what a hit saves; the caller does not see it.
                if (WithUsage(body) is not byte[] rewritten)
                {
                    return ParsedRequest.Bypassed("stream_options is not an object", body, stream);
                }

                upstream = rewritten;
            }

            return new ParsedRequest
            {
                Stream = stream,
                CallerWantsUsage = wantsUsage,
                UpstreamBody = upstream,
                Prompt = matched.Text,
                ExactOnly = matched.ExactOnly,
                ContextHash = matched.ContextHash,
                AttachmentsHash = matched.AttachmentsHash,
                Model = root.TryGetProperty("model", out JsonElement model) && model.ValueKind == JsonValueKind.String ? model.GetString()! : "",
                ParametersHash = ParametersHash(root, NotInKey),
            };
        }
    }

    private static bool IsTextPart(JsonElement part) =>
        part.TryGetProperty("type", out JsonElement t) && t.ValueEquals("text") && part.TryGetProperty("text", out JsonElement x) && x.ValueKind == JsonValueKind.String;

    private static byte[]? WithUsage(ReadOnlyMemory<byte> body)
    {
        try
        {
            if (JsonNode.Parse(body.Span) is not JsonObject root)
            {
                return null;
            }

            switch (root["stream_options"])
            {
                case null:
                    root["stream_options"] = new JsonObject { ["include_usage"] = true };
                    break;
                case JsonObject options:
                    options["include_usage"] = true;
                    break;
                default:
                    return null;
            }

            return Json(root);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            return null; // duplicate member names, which JsonNode refuses
        }
    }

    public override byte[] Error(int status, string message, string? param)
    {
        string type = status < 500 ? "invalid_request_error" : "upstream_error";
        string? code = status switch { 502 => "bad_gateway", 504 => "gateway_timeout", _ => null };
        return Json(new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code } });
    }

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

        if (root?["choices"] is not JsonArray { Count: 1 } choices || choices[0] is not JsonObject choice
            || choice["message"] is not JsonObject || choice["finish_reason"] is not JsonValue)
        {
            return null;
        }

        return Answer(root);
    }

    private static StoredAnswer Answer(JsonObject body) => new(
        body,
        body["model"] is JsonValue m && m.TryGetValue(out string? model) ? model : "",
        Tokens(body["usage"]?["prompt_tokens"]),
        Tokens(body["usage"]?["completion_tokens"]));

    public override IStreamAssembler Assembler(bool dropUsage) => new StreamAssembler(dropUsage);

    public override byte[] ReplayBody(JsonObject stored, DateTimeOffset now)
    {
        var body = (JsonObject)stored.DeepClone();
        body["id"] = NewId("chatcmpl-");
        body["object"] = "chat.completion";
        body["created"] = now.ToUnixTimeSeconds();
        return Json(body);
    }

    public override IEnumerable<byte[]> ReplayStream(JsonObject stored, bool includeUsage, DateTimeOffset now)
    {
        string id = NewId("chatcmpl-");
        long created = now.ToUnixTimeSeconds();
        JsonObject choice = (JsonObject)stored["choices"]![0]!;
        var message = (JsonObject)choice["message"]!;

        JsonObject Chunk(JsonObject delta, JsonNode? finish)
        {
            var chunk = new JsonObject { ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = stored["model"]?.DeepClone() };
            foreach (string name in (ReadOnlySpan<string>)["system_fingerprint", "service_tier"])
            {
                if (stored[name] is JsonNode value)
                {
                    chunk[name] = value.DeepClone();
                }
            }

            chunk["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = finish });
            return chunk;
        }

        yield return Data(Chunk(new JsonObject { ["role"] = message["role"]?.DeepClone() ?? "assistant", ["content"] = "" }, null));
        foreach ((string name, JsonNode? value) in message)
        {
            if (name is "role" or "tool_calls")
            {
                continue;
            }

            if (value is JsonValue v && v.TryGetValue(out string? text))
            {
                foreach (string piece in Pieces(text))
                {
                    yield return Data(Chunk(new JsonObject { [name] = piece }, null));
                }
            }
        }

        if (message["tool_calls"] is JsonArray calls)
        {
            for (int i = 0; i < calls.Count; i++)
            {
                var call = (JsonObject)calls[i]!.DeepClone();
                call.Insert(0, "index", i);
                yield return Data(Chunk(new JsonObject { ["tool_calls"] = new JsonArray(call) }, null));
            }
        }

        yield return Data(Chunk([], choice["finish_reason"]?.DeepClone()));
        if (includeUsage && stored["usage"] is JsonNode usage)
        {
            var chunk = new JsonObject { ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = stored["model"]?.DeepClone(), ["choices"] = new JsonArray(), ["usage"] = usage.DeepClone() };
            yield return Data(chunk);
        }

        yield return "data: [DONE]\n\n"u8.ToArray();
    }

    private static byte[] Data(JsonNode chunk)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        buffer.Write("data: "u8);
        buffer.Write(Json(chunk));
        buffer.Write("\n\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Rebuilds a <c>chat.completion</c> from the chunks of a stream.</summary>
    private sealed class StreamAssembler(bool dropUsage) : IStreamAssembler
    {
        private readonly JsonObject _head = [];
        private readonly Dictionary<string, StringBuilder> _texts = new(StringComparer.Ordinal);
        private readonly List<string> _textOrder = [];
        private readonly SortedDictionary<int, ToolCall> _tools = [];
        private string _role = "assistant";
        private JsonNode? _finish;
        private JsonNode? _usage;
        private bool _done;
        private bool _broken;

        public StreamEventAction Accept(in SseEvent e)
        {
            string data = e.Data;
            if (data.Length == 0)
            {
                return StreamEventAction.Forward;
            }

            if (data == "[DONE]")
            {
                _done = true;
                return StreamEventAction.Terminal;
            }

            JsonObject? chunk;
            try
            {
                chunk = JsonNode.Parse(data) as JsonObject;
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException)
            {
                chunk = null;
            }

            if (chunk is null || chunk["error"] is not null || _done)
            {
                _broken = true;
                return StreamEventAction.Forward;
            }

            foreach (string name in (ReadOnlySpan<string>)["id", "created", "model", "system_fingerprint", "service_tier"])
            {
                if (chunk[name] is JsonValue value && !_head.ContainsKey(name))
                {
                    _head[name] = value.DeepClone();
                }
            }

            bool usageOnly = false;
            if (chunk["usage"] is JsonObject usage)
            {
                _usage = usage.DeepClone();
                usageOnly = chunk["choices"] is not JsonArray { Count: > 0 };
            }

            if (chunk["choices"] is JsonArray choices)
            {
                foreach (JsonNode? node in choices)
                {
                    Choice(node as JsonObject);
                }
            }

            return usageOnly && dropUsage ? StreamEventAction.Drop : StreamEventAction.Forward;
        }

        private void Choice(JsonObject? choice)
        {
            if (choice is null || !(choice["index"] is JsonValue i && i.TryGetValue(out int index) && index == 0) || choice["logprobs"] is JsonObject or JsonArray)
            {
                _broken = true;
                return;
            }

            if (choice["finish_reason"] is JsonValue finish)
            {
                _finish = finish.DeepClone();
            }

            if (choice["delta"] is not JsonObject delta)
            {
                return;
            }

            foreach ((string name, JsonNode? value) in delta)
            {
                switch (name)
                {
                    case "role" when value is JsonValue r && r.TryGetValue(out string? role):
                        _role = role;
                        break;
                    case "tool_calls" when value is JsonArray calls:
                        foreach (JsonNode? call in calls)
                        {
                            Tool(call as JsonObject);
                        }

                        break;
                    case "tool_calls" or "role":
                        _broken |= value is not null;
                        break;
                    default:
                        if (value is JsonValue v && v.TryGetValue(out string? text))
                        {
                            if (!_texts.TryGetValue(name, out StringBuilder? builder))
                            {
                                _texts[name] = builder = new StringBuilder();
                                _textOrder.Add(name);
                            }

                            builder.Append(text);
                        }
                        else if (value is not null)
                        {
                            _broken = true; // function_call, audio, …: nothing this proxy can replay faithfully
                        }

                        break;
                }
            }
        }

        private void Tool(JsonObject? call)
        {
            if (call is null || !(call["index"] is JsonValue i && i.TryGetValue(out int index)))
            {
                _broken = true;
                return;
            }

            if (!_tools.TryGetValue(index, out ToolCall? tool))
            {
                _tools[index] = tool = new ToolCall();
            }

            if (call["id"] is JsonValue id && id.TryGetValue(out string? idText))
            {
                tool.Id = idText;
            }

            if (call["type"] is JsonValue type && type.TryGetValue(out string? typeText))
            {
                tool.Type = typeText;
            }

            if (call["function"] is JsonObject function)
            {
                if (function["name"] is JsonValue name && name.TryGetValue(out string? nameText))
                {
                    tool.Name.Append(nameText);
                }

                if (function["arguments"] is JsonValue args && args.TryGetValue(out string? argsText))
                {
                    tool.Arguments.Append(argsText);
                }
            }
        }

        public StoredAnswer? Result()
        {
            if (!_done || _broken || _finish is null || !_head.ContainsKey("id"))
            {
                return null;
            }

            var message = new JsonObject { ["role"] = _role, ["content"] = _texts.TryGetValue("content", out StringBuilder? content) ? content.ToString() : null };
            foreach (string name in _textOrder)
            {
                message[name] = _texts[name].ToString();
            }

            message["refusal"] ??= null;
            if (_tools.Count > 0)
            {
                message["tool_calls"] = new JsonArray([.. _tools.Values.Select(t => (JsonNode)new JsonObject
                {
                    ["id"] = t.Id,
                    ["type"] = t.Type,
                    ["function"] = new JsonObject { ["name"] = t.Name.ToString(), ["arguments"] = t.Arguments.ToString() },
                })]);
            }

            var body = new JsonObject { ["id"] = _head["id"]!.DeepClone(), ["object"] = "chat.completion" };
            foreach (string name in (ReadOnlySpan<string>)["created", "model"])
            {
                body[name] = _head[name]?.DeepClone();
            }

            body["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = message, ["logprobs"] = null, ["finish_reason"] = _finish.DeepClone() });
            body["usage"] = _usage?.DeepClone();
            foreach (string name in (ReadOnlySpan<string>)["system_fingerprint", "service_tier"])
            {
                if (_head[name] is JsonNode value)
                {
                    body[name] = value.DeepClone();
                }
            }

            return Answer(body);
        }

        private sealed class ToolCall
        {
            public string? Id { get; set; }

            public string Type { get; set; } = "function";

            public StringBuilder Name { get; } = new();

            public StringBuilder Arguments { get; } = new();
        }
    }
}
