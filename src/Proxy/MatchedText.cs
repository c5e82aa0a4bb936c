using System.Text;
using System.Text.Json;

namespace SemCache.Proxy;

/// <summary>
/// The part of a conversation that is matched, and what must be identical around it: the last message's text is matched
/// (semantically when it is a user's text); every message before it is the context, hashed whole.
/// </summary>
/// <param name="Text">The matched text.</param>
/// <param name="ExactOnly">The last message is not a user's text (a tool result, a prefilled answer): it is matched exactly, by its hash.</param>
/// <param name="ContextHash">Hash of the canonical JSON of the messages before it; empty when there are none.</param>
/// <param name="AttachmentsHash">Hash of what the last message carries besides its text (images, files, tool results, a name), or empty.</param>
internal sealed record MatchedText(string Text, bool ExactOnly, string ContextHash, string AttachmentsHash)
{
    /// <summary>Splits a non-empty array of messages; null when a message is not an object with a string role.</summary>
    public static MatchedText? From(JsonElement messages, string userRole, Func<JsonElement, bool> isTextPart)
    {
        int count = messages.GetArrayLength();
        foreach (JsonElement message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object || !message.TryGetProperty("role", out JsonElement r) || r.ValueKind != JsonValueKind.String)
            {
                return null;
            }
        }

        string context = count == 1 ? "" : CanonicalJson.Hash(writer =>
        {
            writer.WriteStartArray();
            int i = 0;
            foreach (JsonElement message in messages.EnumerateArray())
            {
                if (i++ < count - 1)
                {
                    CanonicalJson.Write(writer, message);
                }
            }

            writer.WriteEndArray();
        });

        JsonElement last = messages[count - 1];
        if (last.GetProperty("role").ValueEquals(userRole) && last.TryGetProperty("content", out JsonElement content))
        {
            string? text = null;
            bool plain = true;
            if (content.ValueKind == JsonValueKind.String)
            {
                text = content.GetString();
            }
            else if (content.ValueKind == JsonValueKind.Array)
            {
                plain = false;
                var texts = new StringBuilder();
                foreach (JsonElement part in content.EnumerateArray())
                {
                    if (part.ValueKind == JsonValueKind.Object && isTextPart(part))
                    {
                        texts.Append(texts.Length > 0 ? "\n" : "").Append(part.GetProperty("text").GetString());
                    }
                }

                text = texts.ToString();
            }

            foreach (JsonProperty member in last.EnumerateObject())
            {
                plain &= member.Name is "role" or "content";
            }

            if (!string.IsNullOrWhiteSpace(text))
            {
                string attachments = plain ? "" : CanonicalJson.Hash(writer => Attachments(writer, last, isTextPart));
                return new MatchedText(text, false, context, attachments);
            }
        }

        return new MatchedText("#" + CanonicalJson.Hash(last), true, context, "");
    }

    // The last message without its text: the other members, and the content parts with each text part's text left out.
    private static void Attachments(Utf8JsonWriter writer, JsonElement message, Func<JsonElement, bool> isTextPart)
    {
        writer.WriteStartObject();
        foreach (JsonProperty member in message.EnumerateObject().OrderBy(m => m.Name, StringComparer.Ordinal))
        {
            if (member.Name == "role" || (member.Name == "content" && member.Value.ValueKind == JsonValueKind.String))
            {
                continue;
            }

            writer.WritePropertyName(member.Name);
            if (member.Name == "content" && member.Value.ValueKind == JsonValueKind.Array)
            {
                writer.WriteStartArray();
                foreach (JsonElement part in member.Value.EnumerateArray())
                {
                    if (part.ValueKind == JsonValueKind.Object && isTextPart(part))
                    {
                        CanonicalJson.WriteObject(writer, part, name => name != "text");
                    }
                    else
                    {
                        CanonicalJson.Write(writer, part);
                    }
                }

                writer.WriteEndArray();
            }
            else
            {
                CanonicalJson.Write(writer, member.Value);
            }
        }

        writer.WriteEndObject();
    }
}
