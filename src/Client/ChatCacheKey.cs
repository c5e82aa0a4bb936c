using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace SemCache.Client;

/// <summary>
/// What a chat call is looked up and stored under: the last user message as the prompt, the messages before it as the
/// context (role and content, canonicalised; message ids, timestamps and raw representations left out), and as attributes the
/// model id and a SHA-256 of every <see cref="ChatOptions"/> field that changes the answer, as canonical JSON with sorted keys.
/// </summary>
internal sealed record ChatCacheKey(string Prompt, IReadOnlyList<CacheMessage> Context, IReadOnlyDictionary<string, string> Attributes)
{
    /// <summary>The prefix of the per-call controls in <see cref="ChatOptions.AdditionalProperties"/>; they are not part of the key.</summary>
    public const string ControlPrefix = "semcache.";

    /// <summary>Everything the key holds, as one string: concurrent calls with equal keys share one inner call.</summary>
    public string FlightKey(string @namespace)
    {
        var sb = new StringBuilder();
        sb.Append(@namespace).Append('\u0001');
        foreach (KeyValuePair<string, string> a in Attributes.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            sb.Append(a.Key).Append('=').Append(a.Value).Append('\u0001');
        }

        foreach (CacheMessage m in Context)
        {
            sb.Append(m.Role).Append(':').Append(m.Content).Append('\u0001');
        }

        return sb.Append(Prompt).ToString();
    }

    /// <summary>
    /// The key of a call, or null when it cannot be cached: the last message is not the user's text, or the conversation is
    /// partly kept by the provider (a conversation id: the messages sent are not all of the context) or the call continues a
    /// background response.
    /// </summary>
    public static ChatCacheKey? Create(IEnumerable<ChatMessage> messages, ChatOptions? options, string? defaultModelId)
    {
        if (options?.ConversationId is not null || options?.ContinuationToken is not null)
        {
            return null;
        }

        List<ChatMessage> list = [.. messages];
        if (list.Count == 0)
        {
            return null;
        }

        ChatMessage last = list[^1];
        if (last.Role != ChatRole.User || !IsTextOnly(last) || string.IsNullOrWhiteSpace(last.Text))
        {
            return null;
        }

        var context = new CacheMessage[list.Count - 1];
        for (int i = 0; i < context.Length; i++)
        {
            context[i] = new CacheMessage(list[i].Role.Value, CanonicalContent(list[i]));
        }

        var attributes = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["model"] = options?.ModelId ?? defaultModelId ?? "",
            ["options"] = HashOptions(options),
        };
        return new ChatCacheKey(last.Text, context, attributes);
    }

    private static bool IsTextOnly(ChatMessage message)
    {
        foreach (AIContent content in message.Contents)
        {
            if (content is not TextContent)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>A message's text, or for a message with other content (calls, results, data) canonical JSON of all of it.</summary>
    private static string CanonicalContent(ChatMessage message)
    {
        if (IsTextOnly(message))
        {
            return message.Text;
        }

        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartArray();
            foreach (AIContent content in message.Contents)
            {
                writer.WriteStartObject();
                switch (content)
                {
                    case TextContent t:
                        writer.WriteString("text", t.Text);
                        break;
                    case TextReasoningContent r:
                        writer.WriteString("reasoning", r.Text);
                        break;
                    case FunctionCallContent call:
                        writer.WriteString("call", call.Name);
                        writer.WriteString("callId", call.CallId);
                        writer.WritePropertyName("arguments");
                        WriteCanonical(writer, Serialize(call.Arguments));
                        break;
                    case FunctionResultContent result:
                        writer.WriteString("resultOf", result.CallId);
                        writer.WritePropertyName("result");
                        WriteCanonical(writer, Serialize(result.Result));
                        break;
                    case DataContent data:
                        writer.WriteString("mediaType", data.MediaType);
                        writer.WriteString("sha256", Convert.ToHexString(SHA256.HashData(data.Data.Span)));
                        break;
                    case UriContent uri:
                        writer.WriteString("mediaType", uri.MediaType);
                        writer.WriteString("uri", uri.Uri.ToString());
                        break;
                    default:
                        writer.WriteString("type", content.GetType().FullName);
                        writer.WritePropertyName("value");
                        WriteCanonical(writer, Serialize(content));
                        break;
                }

                writer.WriteEndObject();
            }

            writer.WriteEndArray();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>SHA-256 (hex) of the canonical JSON of every option that changes the answer.</summary>
    private static string HashOptions(ChatOptions? o)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            // Properties are written in ordinal order of their names, so the JSON is canonical.
            writer.WriteStartObject();
            if (o is not null)
            {
                WriteAdditional(writer, o.AdditionalProperties);
                if (o.AllowMultipleToolCalls is { } multiple)
                {
                    writer.WriteBoolean("allowMultipleToolCalls", multiple);
                }

                WriteNumber(writer, "frequencyPenalty", o.FrequencyPenalty);
                if (o.Instructions is not null)
                {
                    writer.WriteString("instructions", o.Instructions);
                }

                WriteNumber(writer, "maxOutputTokens", o.MaxOutputTokens);
                WriteNumber(writer, "presencePenalty", o.PresencePenalty);
                if (o.Reasoning is { } reasoning)
                {
                    writer.WriteStartObject("reasoning");
                    writer.WriteString("effort", reasoning.Effort?.ToString());
                    writer.WriteString("output", reasoning.Output?.ToString());
                    writer.WriteEndObject();
                }

                WriteResponseFormat(writer, o.ResponseFormat);
                WriteNumber(writer, "seed", o.Seed);
                if (o.StopSequences is { Count: > 0 } stops)
                {
                    writer.WriteStartArray("stopSequences");
                    foreach (string s in stops)
                    {
                        writer.WriteStringValue(s);
                    }

                    writer.WriteEndArray();
                }

                WriteNumber(writer, "temperature", o.Temperature);
                WriteToolMode(writer, o.ToolMode);
                WriteTools(writer, o.Tools);
                WriteNumber(writer, "topK", o.TopK);
                WriteNumber(writer, "topP", o.TopP);
            }

            writer.WriteEndObject();
        }

        return Convert.ToHexStringLower(SHA256.HashData(stream.ToArray()));
    }

    private static void WriteAdditional(Utf8JsonWriter writer, AdditionalPropertiesDictionary? properties)
    {
        if (properties is null)
        {
            return;
        }

        var kept = properties.Where(p => !p.Key.StartsWith(ControlPrefix, StringComparison.Ordinal)).OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        if (kept.Count == 0)
        {
            return;
        }

        writer.WriteStartObject("additionalProperties");
        foreach (KeyValuePair<string, object?> p in kept)
        {
            writer.WritePropertyName(p.Key);
            WriteCanonical(writer, Serialize(p.Value));
        }

        writer.WriteEndObject();
    }

    private static void WriteResponseFormat(Utf8JsonWriter writer, ChatResponseFormat? format)
    {
        switch (format)
        {
            case null:
                return;
            case ChatResponseFormatJson json:
                writer.WriteStartObject("responseFormat");
                writer.WriteString("description", json.SchemaDescription);
                writer.WriteString("name", json.SchemaName);
                writer.WritePropertyName("schema");
                WriteCanonical(writer, json.Schema);
                writer.WriteString("type", "json");
                writer.WriteEndObject();
                return;
            default:
                writer.WriteString("responseFormat", format is ChatResponseFormatText ? "text" : format.GetType().FullName);
                return;
        }
    }

    private static void WriteToolMode(Utf8JsonWriter writer, ChatToolMode? mode)
    {
        string? value = mode switch
        {
            null => null,
            RequiredChatToolMode required => "required:" + required.RequiredFunctionName,
            NoneChatToolMode => "none",
            AutoChatToolMode => "auto",
            _ => mode.GetType().FullName,
        };
        if (value is not null)
        {
            writer.WriteString("toolMode", value);
        }
    }

    private static void WriteTools(Utf8JsonWriter writer, IList<AITool>? tools)
    {
        if (tools is not { Count: > 0 })
        {
            return;
        }

        writer.WriteStartArray("tools");
        foreach (AITool tool in tools.OrderBy(t => t.Name, StringComparer.Ordinal).ThenBy(t => t.Description, StringComparer.Ordinal))
        {
            writer.WriteStartObject();
            writer.WriteString("description", tool.Description);
            if (tool is AIFunctionDeclaration function)
            {
                writer.WritePropertyName("inputSchema");
                WriteCanonical(writer, function.JsonSchema);
                writer.WritePropertyName("returnSchema");
                WriteCanonical(writer, function.ReturnJsonSchema);
            }

            writer.WriteString("name", tool.Name);
            writer.WriteString("type", tool.GetType().FullName);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }

    private static void WriteNumber(Utf8JsonWriter writer, string name, float? value)
    {
        if (value is { } v)
        {
            writer.WriteString(name, v.ToString("R", CultureInfo.InvariantCulture));
        }
    }

    private static void WriteNumber(Utf8JsonWriter writer, string name, long? value)
    {
        if (value is { } v)
        {
            writer.WriteNumber(name, v);
        }
    }

    private static JsonElement? Serialize(object? value) =>
        value switch
        {
            null => null,
            JsonElement e => e,
            _ => JsonSerializer.SerializeToElement(value, value.GetType(), AIJsonUtilities.DefaultOptions),
        };

    /// <summary>Writes JSON with every object's properties in ordinal order of their names.</summary>
    private static void WriteCanonical(Utf8JsonWriter writer, JsonElement? element)
    {
        if (element is not { } e)
        {
            writer.WriteNullValue();
            return;
        }

        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (JsonProperty p in e.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal))
                {
                    writer.WritePropertyName(p.Name);
                    WriteCanonical(writer, p.Value);
                }

                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (JsonElement item in e.EnumerateArray())
                {
                    WriteCanonical(writer, item);
                }

                writer.WriteEndArray();
                break;
            default:
                e.WriteTo(writer);
                break;
        }
    }
}
