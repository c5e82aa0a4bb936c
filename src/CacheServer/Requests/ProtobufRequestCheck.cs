using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Unicode;
using Google.Protobuf.Reflection;

namespace SemCache.CacheServer.Requests;

/// <summary>A request field that cannot be accepted, and why (the reason names the rule or the limit).</summary>
internal sealed record RequestFault(string Field, string Reason);

/// <summary>
/// Walks a request's protobuf bytes against its message descriptor before they are parsed, so that a malformed request
/// is rejected naming the field (<c>entries[2].prompt</c>) instead of failing inside the framework as UNKNOWN.
/// </summary>
/// <remarks>
/// It checks what the parser would trip on — tags, varints, lengths, fixed-width values, UTF-8 of string fields,
/// nesting — and one thing the parser lets through: a known field sent with the wrong wire type, which protobuf would
/// silently keep as an unknown field (a <c>ttl_seconds</c> sent as bytes would store with the default TTL). Unknown
/// field numbers are skipped, as proto3 says.
/// </remarks>
internal static class ProtobufRequestCheck
{
    // Google.Protobuf's default recursion limit.
    private const int MaxDepth = 100;
    private const ulong MaxFieldNumber = (1 << 29) - 1;

    private enum WireType
    {
        Varint = 0,
        Fixed64 = 1,
        LengthDelimited = 2,
        StartGroup = 3,
        EndGroup = 4,
        Fixed32 = 5,
    }

    private enum VarintRead
    {
        Ok,
        CutOff,
        TooLong,
    }

    public static RequestFault? Find(ReadOnlySequence<byte> payload, MessageDescriptor descriptor)
    {
        if (payload.IsSingleSegment)
        {
            return Find(payload.FirstSpan, descriptor);
        }

        int length = checked((int)payload.Length);
        byte[] copy = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            payload.CopyTo(copy);
            return Find(copy.AsSpan(0, length), descriptor);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    public static RequestFault? Find(ReadOnlySpan<byte> payload, MessageDescriptor descriptor) =>
        Message(payload, descriptor, "", mapEntry: false, depth: 0);

    private static RequestFault? Message(ReadOnlySpan<byte> data, MessageDescriptor descriptor, string path, bool mapEntry, int depth)
    {
        if (depth > MaxDepth)
        {
            return Fault(path, $"nested more than {MaxDepth} messages deep");
        }

        Dictionary<int, int>? occurrences = null;
        int pos = 0;
        while (pos < data.Length)
        {
            switch (ReadVarint(data, ref pos, out ulong tag))
            {
                case VarintRead.CutOff:
                    return Fault(path, "the data ends inside a field tag");
                case VarintRead.TooLong:
                    return Fault(path, "a field tag is a varint longer than 10 bytes");
            }

            var wireType = (WireType)(tag & 7);
            ulong number = tag >> 3;
            if (number is 0 or > MaxFieldNumber)
            {
                return Fault(path, $"field number {number} is not allowed (1 to {MaxFieldNumber})");
            }

            FieldDescriptor? field = descriptor.FindFieldByNumber((int)number);
            if (field is null)
            {
                if (SkipUnknown(data, ref pos, (int)number, wireType, depth) is string unknownFault)
                {
                    return Fault(path, unknownFault);
                }

                continue;
            }

            string fieldPath;
            string subject = "";
            if (mapEntry)
            {
                fieldPath = path;
                subject = field.FieldNumber == 1 ? "key " : "value ";
            }
            else if (field.IsRepeated && !field.IsMap)
            {
                occurrences ??= [];
                occurrences.TryGetValue(field.FieldNumber, out int index);
                occurrences[field.FieldNumber] = index + 1;
                fieldPath = Join(path, field.Name);
                if (!(wireType == WireType.LengthDelimited && IsPackable(field.FieldType)))
                {
                    fieldPath += $"[{index.ToString(CultureInfo.InvariantCulture)}]";
                }
            }
            else
            {
                fieldPath = Join(path, field.Name);
            }

            if (Field(data, ref pos, field, wireType, fieldPath, depth) is RequestFault fault)
            {
                return mapEntry ? fault with { Reason = subject + fault.Reason } : fault;
            }
        }

        return null;
    }

    private static RequestFault? Field(ReadOnlySpan<byte> data, ref int pos, FieldDescriptor field, WireType wireType, string path, int depth)
    {
        WireType expected = ExpectedWireType(field.FieldType);
        bool packed = wireType == WireType.LengthDelimited && field.IsRepeated && IsPackable(field.FieldType);
        if (wireType != expected && !packed)
        {
            string alternative = field.IsRepeated && IsPackable(field.FieldType) ? " or length-delimited (packed)" : "";
            return Fault(path, $"sent with wire type {Describe(wireType)}; a {TypeName(field)} field is {Describe(expected)}{alternative}");
        }

        switch (wireType)
        {
            case WireType.Varint:
                return ReadVarint(data, ref pos, out _) switch
                {
                    VarintRead.CutOff => Fault(path, "cut off: the data ends inside its varint"),
                    VarintRead.TooLong => Fault(path, "a varint longer than 10 bytes"),
                    _ => null,
                };
            case WireType.Fixed64:
            case WireType.Fixed32:
                int width = wireType == WireType.Fixed64 ? 8 : 4;
                if (data.Length - pos < width)
                {
                    return Fault(path, $"cut off: {width} bytes expected, {data.Length - pos} left");
                }

                pos += width;
                return null;
        }

        switch (ReadVarint(data, ref pos, out ulong declared))
        {
            case VarintRead.CutOff:
                return Fault(path, "cut off: the data ends inside its length");
            case VarintRead.TooLong:
                return Fault(path, "its length is a varint longer than 10 bytes");
        }

        if (declared > (ulong)(data.Length - pos))
        {
            return Fault(path, $"cut off: its length is {declared} bytes, {data.Length - pos} are left");
        }

        ReadOnlySpan<byte> content = data.Slice(pos, (int)declared);
        pos += (int)declared;
        if (packed)
        {
            return Packed(content, field, path);
        }

        switch (field.FieldType)
        {
            case FieldType.String:
                return Utf8.IsValid(content) ? null : Fault(path, "not valid UTF-8");
            case FieldType.Message when field.IsMap:
                return Message(content, field.MessageType, MapEntryPath(content, field, path), mapEntry: true, depth + 1);
            case FieldType.Message:
                return Message(content, field.MessageType, path, mapEntry: false, depth + 1);
            default:
                return null; // bytes
        }
    }

    private static RequestFault? Packed(ReadOnlySpan<byte> content, FieldDescriptor field, string path)
    {
        WireType element = ExpectedWireType(field.FieldType);
        if (element is WireType.Fixed32 or WireType.Fixed64)
        {
            int width = element == WireType.Fixed64 ? 8 : 4;
            return content.Length % width == 0
                ? null
                : Fault(path, $"cut off: {content.Length} packed bytes are not a whole number of {width}-byte {TypeName(field)} values");
        }

        int pos = 0;
        for (int i = 0; pos < content.Length; i++)
        {
            switch (ReadVarint(content, ref pos, out _))
            {
                case VarintRead.CutOff:
                    return Fault($"{path}[{i.ToString(CultureInfo.InvariantCulture)}]", "cut off: the packed data ends inside its varint");
                case VarintRead.TooLong:
                    return Fault($"{path}[{i.ToString(CultureInfo.InvariantCulture)}]", "a varint longer than 10 bytes");
            }
        }

        return null;
    }

    /// <summary>Skips an unknown field (proto3 keeps or drops it, never fails on it); returns why it cannot be skipped.</summary>
    private static string? SkipUnknown(ReadOnlySpan<byte> data, ref int pos, int number, WireType wireType, int depth)
    {
        switch (wireType)
        {
            case WireType.Varint:
                return ReadVarint(data, ref pos, out _) == VarintRead.Ok ? null : $"unknown field {number}: its varint is cut off or longer than 10 bytes";
            case WireType.Fixed64:
            case WireType.Fixed32:
                int width = wireType == WireType.Fixed64 ? 8 : 4;
                if (data.Length - pos < width)
                {
                    return $"unknown field {number}: cut off, {width} bytes expected, {data.Length - pos} left";
                }

                pos += width;
                return null;
            case WireType.LengthDelimited:
                if (ReadVarint(data, ref pos, out ulong length) != VarintRead.Ok || length > (ulong)(data.Length - pos))
                {
                    return $"unknown field {number}: its length is cut off or longer than the data left";
                }

                pos += (int)length;
                return null;
            case WireType.StartGroup:
                if (depth >= MaxDepth)
                {
                    return $"unknown field {number}: groups nested more than {MaxDepth} deep";
                }

                while (true)
                {
                    if (pos >= data.Length)
                    {
                        return $"unknown field {number}: a group with no end-group tag";
                    }

                    if (ReadVarint(data, ref pos, out ulong tag) != VarintRead.Ok || tag >> 3 is 0 or > MaxFieldNumber)
                    {
                        return $"unknown field {number}: a malformed tag inside its group";
                    }

                    var inner = (WireType)(tag & 7);
                    if (inner == WireType.EndGroup)
                    {
                        return (int)(tag >> 3) == number ? null : $"unknown field {number}: its group ends with the end-group tag of field {tag >> 3}";
                    }

                    if (SkipUnknown(data, ref pos, (int)(tag >> 3), inner, depth + 1) is string fault)
                    {
                        return fault;
                    }
                }

            case WireType.EndGroup:
                return $"an end-group tag for field {number} with no group open";
            default:
                return $"unknown field {number} has wire type {(int)wireType}, which does not exist";
        }
    }

    /// <summary>A map entry is named by its key where the key is a readable string: <c>attributes["model"]</c>.</summary>
    private static string MapEntryPath(ReadOnlySpan<byte> entry, FieldDescriptor map, string path)
    {
        if (map.MessageType.FindFieldByNumber(1)?.FieldType != FieldType.String)
        {
            return path;
        }

        string? key = null;
        int pos = 0;
        while (pos < entry.Length && ReadVarint(entry, ref pos, out ulong tag) == VarintRead.Ok)
        {
            if (tag == ((1 << 3) | (ulong)WireType.LengthDelimited))
            {
                if (ReadVarint(entry, ref pos, out ulong length) != VarintRead.Ok || length > (ulong)(entry.Length - pos))
                {
                    break;
                }

                ReadOnlySpan<byte> bytes = entry.Slice(pos, (int)length);
                key = Utf8.IsValid(bytes) && bytes.Length <= 128 ? Encoding.UTF8.GetString(bytes) : null;
                pos += (int)length;
            }
            else if (tag >> 3 is 0 or > MaxFieldNumber || SkipUnknown(entry, ref pos, (int)(tag >> 3), (WireType)(tag & 7), MaxDepth - 1) is not null)
            {
                break;
            }
        }

        return key is null ? path : $"{path}[\"{key.Replace("\"", "\\\"", StringComparison.Ordinal)}\"]";
    }

    private static VarintRead ReadVarint(ReadOnlySpan<byte> data, ref int pos, out ulong value)
    {
        value = 0;
        for (int shift = 0, i = pos; shift < 70; shift += 7, i++)
        {
            if (i >= data.Length)
            {
                return VarintRead.CutOff;
            }

            byte b = data[i];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                pos = i + 1;
                return VarintRead.Ok;
            }
        }

        return VarintRead.TooLong;
    }

    private static WireType ExpectedWireType(FieldType type) => type switch
    {
        FieldType.Double or FieldType.Fixed64 or FieldType.SFixed64 => WireType.Fixed64,
        FieldType.Float or FieldType.Fixed32 or FieldType.SFixed32 => WireType.Fixed32,
        FieldType.String or FieldType.Bytes or FieldType.Message => WireType.LengthDelimited,
        FieldType.Group => WireType.StartGroup,
        _ => WireType.Varint,
    };

    private static bool IsPackable(FieldType type) =>
        type is not (FieldType.String or FieldType.Bytes or FieldType.Message or FieldType.Group);

    private static string Describe(WireType wireType) => wireType switch
    {
        WireType.Varint => "0 (varint)",
        WireType.Fixed64 => "1 (64-bit)",
        WireType.LengthDelimited => "2 (length-delimited)",
        WireType.StartGroup => "3 (start group)",
        WireType.EndGroup => "4 (end group)",
        WireType.Fixed32 => "5 (32-bit)",
        _ => $"{(int)wireType}, which does not exist",
    };

    private static string TypeName(FieldDescriptor field) => field.FieldType switch
    {
        FieldType.Message => field.MessageType.Name,
        FieldType.Enum => field.EnumType.Name,
        _ => field.FieldType.ToString().ToLowerInvariant(),
    };

    private static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

    private static RequestFault Fault(string path, string reason) => new(path.Length == 0 ? RequestErrors.WholeRequest : path, reason);
}
