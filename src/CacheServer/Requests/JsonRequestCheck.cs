using System.Collections.Concurrent;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using Google.Protobuf.Reflection;

namespace SemCache.CacheServer.Requests;

/// <summary>
/// Reads a request body as proto3 JSON against its message descriptor and names the first thing it cannot accept by
/// its JSON path as the client wrote it (<c>ttlSeconds</c>, <c>vector[3]</c>, <c>entries[1].usage.inputTokens</c>).
/// </summary>
/// <remarks>
/// What it accepts is what the proto3 JSON mapping accepts: either the JSON name or the proto field name, numbers or
/// numeric strings for integers and floats ("NaN", "Infinity", "-Infinity" too), whole numbers only for integers, in
/// their type's range, enums by name or number, null for a default. It rejects unknown fields (which the transcoder
/// would silently drop), a field given twice, null inside a list or as a map value, strings that are not valid
/// Unicode (invalid UTF-8 bytes, a lone surrogate escape), and anything that is not JSON.
/// </remarks>
internal static partial class JsonRequestCheck
{
    private static readonly JsonReaderOptions ReaderOptions = new() { CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false, MaxDepth = 64 };
    private static readonly ConcurrentDictionary<MessageDescriptor, Dictionary<string, FieldDescriptor>> FieldNames = new();

    public static RequestFault? Find(ReadOnlySpan<byte> utf8, MessageDescriptor descriptor)
    {
        if (utf8.IsEmpty)
        {
            return new RequestFault(RequestErrors.WholeRequest, "the body is empty; a JSON object is expected (at least {})");
        }

        var reader = new Utf8JsonReader(utf8, ReaderOptions);
        string path = "";
        try
        {
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return new RequestFault(RequestErrors.WholeRequest, $"the body is {Describe(reader.TokenType)}; a JSON object ({descriptor.Name}) is expected");
            }

            if (Message(ref reader, descriptor, "", ref path) is RequestFault fault)
            {
                return fault;
            }

            if (reader.Read())
            {
                return new RequestFault(RequestErrors.WholeRequest, "not valid JSON: more follows the object");
            }

            return null;
        }
        catch (JsonException e)
        {
            // The reader's message says what it found and where (line and byte).
            string where = e.Message.Replace(" Change the reader options.", "", StringComparison.Ordinal);
            return new RequestFault(path.Length == 0 ? RequestErrors.WholeRequest : path, "not valid JSON: " + where);
        }
    }

    /// <summary>Resolves a field by its JSON name or its proto name, as proto3 JSON parsers do.</summary>
    public static FieldDescriptor? FindField(MessageDescriptor descriptor, string name) =>
        FieldNames.GetOrAdd(descriptor, static d =>
        {
            var names = new Dictionary<string, FieldDescriptor>(StringComparer.Ordinal);
            foreach (FieldDescriptor field in d.Fields.InDeclarationOrder())
            {
                names[field.Name] = field;
            }

            foreach (FieldDescriptor field in d.Fields.InDeclarationOrder())
            {
                names[field.JsonName] = field;
            }

            return names;
        }).GetValueOrDefault(name);

    public static string FieldList(MessageDescriptor descriptor) =>
        string.Join(", ", descriptor.Fields.InDeclarationOrder().Select(f => f.JsonName));

    // `path` is where the reader is, kept up to date so that a syntax error can be reported at the field it broke.
    private static RequestFault? Message(ref Utf8JsonReader reader, MessageDescriptor descriptor, string prefix, ref string path)
    {
        HashSet<int>? seen = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            path = prefix.Length == 0 ? RequestErrors.WholeRequest : prefix;
            if (!TryGetString(ref reader, out string? name))
            {
                return Fault(prefix, "a field name is not valid Unicode (invalid UTF-8, or a lone surrogate escape)");
            }

            string fieldPath = Join(prefix, name);
            path = fieldPath;
            FieldDescriptor? field = FindField(descriptor, name);
            if (field is null)
            {
                return new RequestFault(fieldPath, $"unknown field: {descriptor.Name} has no field '{name}' (its fields: {FieldList(descriptor)})");
            }

            seen ??= [];
            if (!seen.Add(field.FieldNumber))
            {
                return new RequestFault(fieldPath, field.JsonName == field.Name ? "given twice" : $"given twice (as '{field.JsonName}' or '{field.Name}')");
            }

            if (field.RealContainingOneof is OneofDescriptor oneof)
            {
                foreach (FieldDescriptor other in oneof.Fields)
                {
                    if (other != field && seen.Contains(other.FieldNumber))
                    {
                        return new RequestFault(fieldPath, $"only one of the oneof '{oneof.Name}' may be given, and '{other.JsonName}' was");
                    }
                }
            }

            reader.Read();
            if (Value(ref reader, field, fieldPath, ref path) is RequestFault fault)
            {
                return fault;
            }

            path = prefix.Length == 0 ? RequestErrors.WholeRequest : prefix;
        }

        return null;
    }

    private static RequestFault? Value(ref Utf8JsonReader reader, FieldDescriptor field, string fieldPath, ref string path)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null; // proto3 JSON: null is the field's default
        }

        if (field.IsMap)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return new RequestFault(fieldPath, $"must be a JSON object (a map), got {Describe(reader.TokenType)}");
            }

            FieldDescriptor keyField = field.MessageType.FindFieldByNumber(1);
            FieldDescriptor valueField = field.MessageType.FindFieldByNumber(2);
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                path = fieldPath;
                if (!TryGetString(ref reader, out string? key))
                {
                    return new RequestFault(fieldPath, "a key is not valid Unicode (invalid UTF-8, or a lone surrogate escape)");
                }

                string entryPath = $"{fieldPath}[\"{key.Replace("\"", "\\\"", StringComparison.Ordinal)}\"]";
                if (keyField.FieldType != FieldType.String && MapKeyFault(keyField, key) is string keyFault)
                {
                    return new RequestFault(entryPath, keyFault);
                }

                path = entryPath;
                reader.Read();
                if (reader.TokenType == JsonTokenType.Null)
                {
                    return new RequestFault(entryPath, "null is not allowed as a map value");
                }

                if (Single(ref reader, valueField, entryPath, ref path) is RequestFault fault)
                {
                    return fault;
                }
            }

            return null;
        }

        if (field.IsRepeated)
        {
            if (reader.TokenType != JsonTokenType.StartArray)
            {
                return new RequestFault(fieldPath, $"must be a JSON array, got {Describe(reader.TokenType)}");
            }

            for (int i = 0; reader.Read() && reader.TokenType != JsonTokenType.EndArray; i++)
            {
                string elementPath = $"{fieldPath}[{i.ToString(CultureInfo.InvariantCulture)}]";
                path = elementPath;
                if (reader.TokenType == JsonTokenType.Null)
                {
                    return new RequestFault(elementPath, $"null is not allowed in a list (expected {TypeName(field)})");
                }

                if (Single(ref reader, field, elementPath, ref path) is RequestFault fault)
                {
                    return fault;
                }
            }

            return null;
        }

        return Single(ref reader, field, fieldPath, ref path);
    }

    private static RequestFault? Single(ref Utf8JsonReader reader, FieldDescriptor field, string fieldPath, ref string path)
    {
        JsonTokenType token = reader.TokenType;
        switch (field.FieldType)
        {
            case FieldType.String:
                if (token != JsonTokenType.String)
                {
                    return Expected(fieldPath, "a string", token);
                }

                return TryGetString(ref reader, out _) ? null : new RequestFault(fieldPath, "not valid Unicode: invalid UTF-8, or a lone surrogate escape such as \\ud800");
            case FieldType.Bool:
                return token is JsonTokenType.True or JsonTokenType.False ? null : Expected(fieldPath, "true or false", token);
            case FieldType.Float:
            case FieldType.Double:
                return FloatFault(ref reader, field, fieldPath);
            case FieldType.Enum:
                return EnumFault(ref reader, field, fieldPath);
            case FieldType.Bytes:
                if (token != JsonTokenType.String)
                {
                    return Expected(fieldPath, "a base64 string", token);
                }

                return TryGetString(ref reader, out string? base64) && IsBase64(base64) ? null : new RequestFault(fieldPath, "not valid base64");
            case FieldType.Message:
            case FieldType.Group:
                if (field.MessageType.File.Package == "google.protobuf")
                {
                    // Well-known types have JSON forms of their own; the proto3 parser that follows checks them.
                    reader.Skip();
                    return null;
                }

                if (token != JsonTokenType.StartObject)
                {
                    return Expected(fieldPath, $"a JSON object ({field.MessageType.Name})", token);
                }

                return Message(ref reader, field.MessageType, fieldPath, ref path);
            default:
                return IntegerFault(ref reader, field, fieldPath);
        }
    }

    private static RequestFault? IntegerFault(ref Utf8JsonReader reader, FieldDescriptor field, string fieldPath)
    {
        (decimal min, decimal max) = field.FieldType switch
        {
            FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => (int.MinValue, int.MaxValue),
            FieldType.UInt32 or FieldType.Fixed32 => (uint.MinValue, uint.MaxValue),
            FieldType.UInt64 or FieldType.Fixed64 => (ulong.MinValue, ulong.MaxValue),
            _ => ((decimal)long.MinValue, (decimal)long.MaxValue),
        };
        string type = TypeName(field);
        string range = $"a whole number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}";
        if (!TryGetNumberText(ref reader, out string? text))
        {
            return Expected(fieldPath, $"{range} ({type}), as a number or a numeric string", reader.TokenType);
        }

        if (!IsJsonNumber(text))
        {
            return new RequestFault(fieldPath, $"must be {range} ({type}), got '{Shorten(text)}'");
        }

        if (WholeNumber(text) is not BigInteger value || value < new BigInteger(min) || value > new BigInteger(max))
        {
            return new RequestFault(fieldPath, $"must be {range} ({type}), got {Shorten(text)}");
        }

        return null;
    }

    /// <summary>
    /// The value of a JSON number if it is whole (1e2 and 100.0 are; 1.5 and 1e-50 are not), exactly: a decimal or
    /// double would round 1e-50 to 0. Null when it is not whole, or has more than 30 digits before the point.
    /// </summary>
    private static BigInteger? WholeNumber(string text)
    {
        int e = text.IndexOfAny(['e', 'E']);
        string mantissa = e < 0 ? text : text[..e];
        if (!int.TryParse(e < 0 ? "0" : text[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int exponent))
        {
            return null; // an exponent beyond int: far out of every integer type's range, or far below 1
        }

        bool negative = mantissa.StartsWith('-');
        string unsigned = negative ? mantissa[1..] : mantissa;
        int point = unsigned.IndexOf('.', StringComparison.Ordinal);
        string digits = (point < 0 ? unsigned : unsigned.Remove(point, 1)).TrimStart('0');
        long scale = (long)exponent - (point < 0 ? 0 : unsigned.Length - point - 1);
        if (digits.Length == 0)
        {
            return BigInteger.Zero;
        }

        if (scale < 0)
        {
            int trailingZeros = digits.Length - digits.TrimEnd('0').Length;
            if (-scale > trailingZeros)
            {
                return null;
            }

            digits = digits[..(int)(digits.Length + scale)];
            scale = 0;
        }

        if (digits.Length + scale > 30)
        {
            return null;
        }

        BigInteger value = BigInteger.Parse(digits, CultureInfo.InvariantCulture) * BigInteger.Pow(10, (int)scale);
        return negative ? -value : value;
    }

    private static RequestFault? FloatFault(ref Utf8JsonReader reader, FieldDescriptor field, string fieldPath)
    {
        string type = TypeName(field);
        if (!TryGetNumberText(ref reader, out string? text))
        {
            return Expected(fieldPath, $"a number ({type}), a numeric string, \"NaN\", \"Infinity\" or \"-Infinity\"", reader.TokenType);
        }

        if (reader.TokenType == JsonTokenType.String && text is "NaN" or "Infinity" or "-Infinity")
        {
            return null;
        }

        if (!IsJsonNumber(text) || !double.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out double value)
            || !double.IsFinite(value))
        {
            return new RequestFault(fieldPath, $"must be a finite number ({type}), a numeric string, \"NaN\", \"Infinity\" or \"-Infinity\", got '{Shorten(text)}'");
        }

        // Out of range means it rounds to infinity as a float: 3.4028235e+38 (float.MaxValue written out) is in range.
        if (field.FieldType == FieldType.Float && float.IsInfinity((float)value))
        {
            return new RequestFault(fieldPath, $"{Shorten(text)} is out of the range of a float (±3.4028235E+38)");
        }

        return null;
    }

    private static RequestFault? EnumFault(ref Utf8JsonReader reader, FieldDescriptor field, string fieldPath)
    {
        EnumDescriptor type = field.EnumType;
        string allowed = string.Join(", ", type.Values.Select(v => v.Name));
        if (reader.TokenType == JsonTokenType.String)
        {
            return TryGetString(ref reader, out string? name) && type.FindValueByName(name) is not null
                ? null
                : new RequestFault(fieldPath, $"must be one of {allowed} (or its number)");
        }

        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out _))
        {
            return null; // proto3 enums are open: an unknown number is kept
        }

        return Expected(fieldPath, $"one of {allowed} (or its number)", reader.TokenType);
    }

    private static string? MapKeyFault(FieldDescriptor keyField, string key) => keyField.FieldType switch
    {
        FieldType.Bool => key is "true" or "false" ? null : "a map key of type bool must be \"true\" or \"false\"",
        FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => int.TryParse(key, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _) ? null : "the map key must be an int32",
        FieldType.UInt32 or FieldType.Fixed32 => uint.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out _) ? null : "the map key must be a uint32",
        FieldType.UInt64 or FieldType.Fixed64 => ulong.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out _) ? null : "the map key must be a uint64",
        _ => long.TryParse(key, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _) ? null : "the map key must be an int64",
    };

    private static bool TryGetNumberText(ref Utf8JsonReader reader, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? text)
    {
        if (reader.TokenType == JsonTokenType.Number)
        {
            text = Encoding.UTF8.GetString(reader.ValueSpan);
            return true;
        }

        if (reader.TokenType == JsonTokenType.String && TryGetString(ref reader, out text))
        {
            return true;
        }

        text = null;
        return false;
    }

    /// <summary>A numeric string must be written as a JSON number is (no '+', no leading zeros, no spaces), as proto3 parsers require.</summary>
    private static bool IsJsonNumber(string text) => JsonNumber().IsMatch(text);

    [System.Text.RegularExpressions.GeneratedRegex(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$", System.Text.RegularExpressions.RegexOptions.CultureInvariant)]
    private static partial System.Text.RegularExpressions.Regex JsonNumber();

    /// <summary>Gets a string token's value; false where it is not valid Unicode (the reader throws for both cases).</summary>
    private static bool TryGetString(ref Utf8JsonReader reader, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value)
    {
        try
        {
            value = reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            value = null;
            return false;
        }

        // Lone surrogates, should an escape ever decode to one without an exception.
        for (int i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                value = null;
                return false;
            }
        }

        return true;
    }

    private static bool IsBase64(string text)
    {
        string standard = text.Replace('-', '+').Replace('_', '/');
        standard = standard.PadRight(standard.Length + ((4 - (standard.Length % 4)) % 4), '=');
        return Convert.TryFromBase64String(standard, new byte[standard.Length], out _);
    }

    private static RequestFault Expected(string fieldPath, string expected, JsonTokenType token) =>
        new(fieldPath, $"must be {expected}, got {Describe(token)}");

    private static RequestFault Fault(string prefix, string reason) => new(prefix.Length == 0 ? RequestErrors.WholeRequest : prefix, reason);

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        _ => token.ToString(),
    };

    private static string TypeName(FieldDescriptor field) => field.FieldType switch
    {
        FieldType.Message => field.MessageType.Name,
        FieldType.Enum => field.EnumType.Name,
        _ => field.FieldType.ToString().ToLowerInvariant(),
    };

    private static string Shorten(string text) => text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 40), "…");

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;
}
