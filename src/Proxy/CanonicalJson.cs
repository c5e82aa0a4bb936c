using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;

namespace SemCache.Proxy;

/// <summary>
/// One spelling of a JSON value, so that requests that mean the same have the same key: object members sorted by name
/// (ordinal), no whitespace, strings and numbers re-encoded by one writer (a number keeps its exact digits: <c>1</c> and
/// <c>1.0</c> differ, as a provider may read them differently). Duplicate member names keep the last, as JSON readers do.
/// </summary>
internal static class CanonicalJson
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The canonical UTF-8 bytes of a value.</summary>
    public static byte[] Bytes(JsonElement value)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            Write(writer, value);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>SHA-256 of the canonical bytes of a value, as 32 lower-case hexadecimal digits (its first 16 bytes).</summary>
    public static string Hash(JsonElement value) => HashBytes(Bytes(value));

    /// <summary>SHA-256 of bytes as 32 lower-case hexadecimal digits (its first 16 bytes).</summary>
    public static string HashBytes(ReadOnlySpan<byte> bytes)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(bytes, digest);
        return Convert.ToHexStringLower(digest[..16]);
    }

    /// <summary>Writes an object canonically with only the members <paramref name="include"/> keeps.</summary>
    public static void WriteObject(Utf8JsonWriter writer, JsonElement value, Func<string, bool> include)
    {
        writer.WriteStartObject();
        var members = new SortedDictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (JsonProperty property in value.EnumerateObject())
        {
            if (include(property.Name))
            {
                members[property.Name] = property.Value;
            }
        }

        foreach ((string name, JsonElement member) in members)
        {
            writer.WritePropertyName(name);
            Write(writer, member);
        }

        writer.WriteEndObject();
    }

    /// <summary>The hash of what a writer writes (<see cref="HashBytes"/>).</summary>
    public static string Hash(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            write(writer);
        }

        return HashBytes(buffer.WrittenSpan);
    }

    /// <summary>Writes a value canonically.</summary>
    public static void Write(Utf8JsonWriter writer, JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                WriteObject(writer, value, static _ => true);
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (JsonElement item in value.EnumerateArray())
                {
                    Write(writer, item);
                }

                writer.WriteEndArray();
                break;
            case JsonValueKind.String:
                writer.WriteStringValue(value.GetString());
                break;
            case JsonValueKind.Number:
                writer.WriteRawValue(value.GetRawText(), skipInputValidation: true);
                break;
            default:
                value.WriteTo(writer); // true, false, null
                break;
        }
    }
}
