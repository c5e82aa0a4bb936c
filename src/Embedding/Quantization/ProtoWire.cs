using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace SemCache.Embedding.Quantization;

/// <summary>Protocol Buffers wire types (protobuf encoding guide, "Message Structure").</summary>
internal enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5,
}

/// <summary>
/// One field of an encoded message, as it was on the wire: <see cref="Raw"/> holds its tag and value bytes, so a field
/// that is not understood (or not changed) is written back by copying them.
/// </summary>
internal readonly record struct ProtoField(int Number, WireType Type, ulong Varint, ReadOnlyMemory<byte> Payload, ReadOnlyMemory<byte> Raw)
{
    /// <summary>The payload of a length-delimited field as UTF-8 text (a protobuf <c>string</c>).</summary>
    public string Text => Encoding.UTF8.GetString(Payload.Span);
}

/// <summary>
/// A minimal protobuf wire-format reader: splits a message into its top-level fields without a schema. Nested
/// messages are read by calling <see cref="ReadFields"/> again on a field's <see cref="ProtoField.Payload"/>.
/// </summary>
internal static class ProtoReader
{
    public static List<ProtoField> ReadFields(ReadOnlyMemory<byte> message)
    {
        var fields = new List<ProtoField>();
        ReadOnlySpan<byte> span = message.Span;
        int position = 0;
        while (position < span.Length)
        {
            int start = position;
            ulong tag = ReadVarint(span, ref position);
            int number = checked((int)(tag >> 3));
            var type = (WireType)(tag & 7);
            if (number == 0)
            {
                throw new InvalidDataException($"Protobuf field number 0 at byte {start}.");
            }

            ulong varint = 0;
            ReadOnlyMemory<byte> payload = default;
            switch (type)
            {
                case WireType.Varint:
                    varint = ReadVarint(span, ref position);
                    break;
                case WireType.Fixed64:
                    payload = Slice(message, ref position, 8);
                    break;
                case WireType.Fixed32:
                    payload = Slice(message, ref position, 4);
                    break;
                case WireType.LengthDelimited:
                    ulong length = ReadVarint(span, ref position);
                    payload = Slice(message, ref position, length > int.MaxValue ? int.MaxValue : (int)length);
                    break;
                case WireType.StartGroup:
                    SkipGroup(span, ref position, number);
                    break;
                default:
                    throw new InvalidDataException($"Protobuf wire type {(int)type} at byte {start} is not valid here.");
            }

            fields.Add(new ProtoField(number, type, varint, payload, message[start..position]));
        }

        return fields;
    }

    /// <summary>The values of a repeated int64 field, packed or not (proto3 packs them by default; proto2 writers may not).</summary>
    public static void AddInt64s(ProtoField field, List<long> values)
    {
        if (field.Type == WireType.Varint)
        {
            values.Add((long)field.Varint);
            return;
        }

        ReadOnlySpan<byte> span = field.Payload.Span;
        int position = 0;
        while (position < span.Length)
        {
            values.Add((long)ReadVarint(span, ref position));
        }
    }

    private static ReadOnlyMemory<byte> Slice(ReadOnlyMemory<byte> message, ref int position, int length)
    {
        if (length > message.Length - position)
        {
            throw new InvalidDataException($"Protobuf field at byte {position} runs past the end of its message.");
        }

        ReadOnlyMemory<byte> slice = message.Slice(position, length);
        position += length;
        return slice;
    }

    private static void SkipGroup(ReadOnlySpan<byte> span, ref int position, int number)
    {
        while (true)
        {
            if (position >= span.Length)
            {
                throw new InvalidDataException("Protobuf group is not closed.");
            }

            ulong tag = ReadVarint(span, ref position);
            switch ((WireType)(tag & 7))
            {
                case WireType.Varint: ReadVarint(span, ref position); break;
                case WireType.Fixed64: position += 8; break;
                case WireType.Fixed32: position += 4; break;
                case WireType.LengthDelimited: position += checked((int)ReadVarint(span, ref position)); break;
                case WireType.StartGroup: SkipGroup(span, ref position, (int)(tag >> 3)); break;
                case WireType.EndGroup when (int)(tag >> 3) == number: return;
                default: throw new InvalidDataException("Protobuf group is malformed.");
            }
        }
    }

    public static ulong ReadVarint(ReadOnlySpan<byte> span, ref int position)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (position >= span.Length)
            {
                throw new InvalidDataException("Protobuf varint runs past the end of its message.");
            }

            byte b = span[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new InvalidDataException("Protobuf varint is longer than 10 bytes.");
    }
}

/// <summary>A minimal protobuf wire-format writer into a growing buffer.</summary>
internal sealed class ProtoWriter
{
    private readonly ArrayBufferWriter<byte> _buffer;

    public ProtoWriter(int initialCapacity = 256) => _buffer = new ArrayBufferWriter<byte>(Math.Max(initialCapacity, 16));

    public int Length => _buffer.WrittenCount;

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.WrittenMemory;

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

    /// <summary>Copies an encoded field (or several) as they are.</summary>
    public void WriteRaw(ReadOnlySpan<byte> bytes) => _buffer.Write(bytes);

    public void WriteVarintField(int number, ulong value)
    {
        WriteVarint(((ulong)number << 3) | (ulong)WireType.Varint);
        WriteVarint(value);
    }

    public void WriteBytesField(int number, ReadOnlySpan<byte> payload)
    {
        WriteVarint(((ulong)number << 3) | (ulong)WireType.LengthDelimited);
        WriteVarint((ulong)payload.Length);
        _buffer.Write(payload);
    }

    public void WriteStringField(int number, string value) => WriteBytesField(number, Encoding.UTF8.GetBytes(value));

    /// <summary>A repeated int64 field, packed (as proto3 writes it).</summary>
    public void WritePackedInt64Field(int number, ReadOnlySpan<long> values)
    {
        var packed = new ProtoWriter(values.Length * 2);
        foreach (long value in values)
        {
            packed.WriteVarint((ulong)value);
        }

        WriteBytesField(number, packed.WrittenMemory.Span);
    }

    public void WriteFloatsAsBytesField(int number, ReadOnlySpan<float> values)
    {
        WriteVarint(((ulong)number << 3) | (ulong)WireType.LengthDelimited);
        WriteVarint((ulong)values.Length * 4);
        Span<byte> destination = _buffer.GetSpan(values.Length * 4);
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(destination[(i * 4)..], values[i]);
        }

        _buffer.Advance(values.Length * 4);
    }

    public void WriteVarint(ulong value)
    {
        Span<byte> destination = _buffer.GetSpan(10);
        int n = 0;
        while (value >= 0x80)
        {
            destination[n++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[n++] = (byte)value;
        _buffer.Advance(n);
    }
}
