using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace SemCache.Storage;

/// <summary>
/// The versioned binary form of an entry, stored as a FASTER SpanByte value (blittable bytes, no object graph, so the
/// memory footprint is exactly the log budget) and written as is to the write-ahead log.
/// </summary>
/// <remarks>
/// Layout, little-endian, 8-byte aligned header so the vector floats are 4-byte aligned:
/// <code>
///  0 u16 magic 0x4353 ("SC")   2 u8 format version   3 u8 flags (0)
///  4 i32 total length (including the trailing checksum)
///  8 u64 id        16 u64 partition   24 i64 created ms   32 i64 expires ms
/// 40 i32 input tokens   44 i32 output tokens   48 i32 vector dimension
/// 52 u16 attribute count   54 u8 fingerprint length   55 u8 reserved
/// 56 i32 exact-key length   60 namespace   64 model   68 prompt   72 response   76 attribute bytes (all i32 byte lengths)
/// 80 vector (dim × f32), fingerprint, exact key, namespace, model, prompt, response (UTF-8),
///    attributes (i32 key length, key, i32 value length, value)…
/// end-8 u64 XxHash3 of every preceding byte
/// </code>
/// A reader rejects an unknown version or a checksum mismatch instead of guessing.
/// </remarks>
internal static class EntryRecord
{
    public const ushort Magic = 0x4353;
    public const byte FormatVersion = 1;
    public const int HeaderSize = 80;
    public const int TrailerSize = 8;

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Bytes <see cref="Write"/> needs for the entry.</summary>
    public static int Measure(CacheEntry entry, in ExactKey key)
    {
        long size = HeaderSize + TrailerSize;
        size += (long)entry.Vector.Length * sizeof(float);
        size += entry.ContextFingerprint.Length;
        size += key.Text.Length;
        size += Utf8.GetByteCount(entry.Namespace);
        size += Utf8.GetByteCount(entry.Usage.Model ?? "");
        size += Utf8.GetByteCount(entry.Prompt);
        size += Utf8.GetByteCount(entry.Response);
        size += MeasureAttributes(entry.Attributes);
        return size > int.MaxValue ? int.MaxValue : (int)size;
    }

    private static long MeasureAttributes(IReadOnlyList<KeyValuePair<string, string>> attributes)
    {
        long size = 0;
        for (var i = 0; i < attributes.Count; i++)
        {
            size += 8 + Utf8.GetByteCount(attributes[i].Key) + Utf8.GetByteCount(attributes[i].Value ?? "");
        }

        return size;
    }

    /// <summary>Serialises the entry into <paramref name="destination"/> (exactly <see cref="Measure"/> bytes).</summary>
    [SkipLocalsInit]
    public static void Write(Span<byte> destination, CacheEntry entry, in ExactKey key, ulong id, long createdMs, long expiresMs)
    {
        var attributes = entry.Attributes;
        var nsLength = Utf8.GetByteCount(entry.Namespace);
        var model = entry.Usage.Model ?? "";
        var modelLength = Utf8.GetByteCount(model);
        var promptLength = Utf8.GetByteCount(entry.Prompt);
        var responseLength = Utf8.GetByteCount(entry.Response);
        var attributeBytes = (int)MeasureAttributes(attributes);

        BinaryPrimitives.WriteUInt16LittleEndian(destination, Magic);
        destination[2] = FormatVersion;
        destination[3] = 0;
        BinaryPrimitives.WriteInt32LittleEndian(destination[4..], destination.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], id);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], key.Partition);
        BinaryPrimitives.WriteInt64LittleEndian(destination[24..], createdMs);
        BinaryPrimitives.WriteInt64LittleEndian(destination[32..], expiresMs);
        BinaryPrimitives.WriteInt32LittleEndian(destination[40..], entry.Usage.InputTokens);
        BinaryPrimitives.WriteInt32LittleEndian(destination[44..], entry.Usage.OutputTokens);
        BinaryPrimitives.WriteInt32LittleEndian(destination[48..], entry.Vector.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[52..], (ushort)attributes.Count);
        destination[54] = (byte)entry.ContextFingerprint.Length;
        destination[55] = 0;
        BinaryPrimitives.WriteInt32LittleEndian(destination[56..], key.Text.Length);
        BinaryPrimitives.WriteInt32LittleEndian(destination[60..], nsLength);
        BinaryPrimitives.WriteInt32LittleEndian(destination[64..], modelLength);
        BinaryPrimitives.WriteInt32LittleEndian(destination[68..], promptLength);
        BinaryPrimitives.WriteInt32LittleEndian(destination[72..], responseLength);
        BinaryPrimitives.WriteInt32LittleEndian(destination[76..], attributeBytes);

        var offset = HeaderSize;
        var vectorBytes = MemoryMarshal.AsBytes(entry.Vector.Span);
        if (BitConverter.IsLittleEndian)
        {
            vectorBytes.CopyTo(destination[offset..]);
        }
        else
        {
            var vector = entry.Vector.Span;
            for (var i = 0; i < vector.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(destination[(offset + (i * 4))..], vector[i]);
            }
        }

        offset += vectorBytes.Length;
        entry.ContextFingerprint.Span.CopyTo(destination[offset..]);
        offset += entry.ContextFingerprint.Length;
        key.Text.Span.CopyTo(destination[offset..]);
        offset += key.Text.Length;
        offset += Utf8.GetBytes(entry.Namespace, destination[offset..]);
        offset += Utf8.GetBytes(model, destination[offset..]);
        offset += Utf8.GetBytes(entry.Prompt, destination[offset..]);
        offset += Utf8.GetBytes(entry.Response, destination[offset..]);
        for (var i = 0; i < attributes.Count; i++)
        {
            offset = WriteString(destination, offset, attributes[i].Key);
            offset = WriteString(destination, offset, attributes[i].Value ?? "");
        }

        var checksum = XxHash3.HashToUInt64(destination[..offset]);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[offset..], checksum);
    }

    private static int WriteString(Span<byte> destination, int offset, string value)
    {
        var length = Utf8.GetBytes(value, destination[(offset + 4)..]);
        BinaryPrimitives.WriteInt32LittleEndian(destination[offset..], length);
        return offset + 4 + length;
    }

    /// <summary>The fixed header fields, validated (magic, version, lengths, checksum) without decoding strings.</summary>
    public readonly record struct Header(ulong Id, ulong Partition, long CreatedMs, long ExpiresMs, int Length, int VectorDimension);

    /// <summary>Validates a record and returns its header, or a reason it is damaged.</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> record, out Header header, out string? problem)
    {
        header = default;
        if (record.Length < HeaderSize + TrailerSize)
        {
            problem = $"record is {record.Length} bytes, shorter than the {HeaderSize + TrailerSize}-byte minimum";
            return false;
        }

        if (BinaryPrimitives.ReadUInt16LittleEndian(record) != Magic)
        {
            problem = "record magic is wrong";
            return false;
        }

        if (record[2] != FormatVersion)
        {
            problem = $"record format version {record[2]} is not the supported version {FormatVersion}";
            return false;
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(record[4..]);
        if (length != record.Length)
        {
            problem = $"record length field {length} does not match its {record.Length} stored bytes";
            return false;
        }

        var stored = BinaryPrimitives.ReadUInt64LittleEndian(record[(length - TrailerSize)..]);
        if (XxHash3.HashToUInt64(record[..(length - TrailerSize)]) != stored)
        {
            problem = "record checksum mismatch";
            return false;
        }

        long body = (long)BinaryPrimitives.ReadInt32LittleEndian(record[48..]) * 4 + record[54];
        for (var field = 56; field <= 76; field += 4)
        {
            var fieldLength = BinaryPrimitives.ReadInt32LittleEndian(record[field..]);
            if (fieldLength < 0)
            {
                problem = "record has a negative field length";
                return false;
            }

            body += fieldLength;
        }

        if (body != length - HeaderSize - TrailerSize)
        {
            problem = "record field lengths do not add up to its length";
            return false;
        }

        header = new Header(
            BinaryPrimitives.ReadUInt64LittleEndian(record[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(record[16..]),
            BinaryPrimitives.ReadInt64LittleEndian(record[24..]),
            BinaryPrimitives.ReadInt64LittleEndian(record[32..]),
            length,
            BinaryPrimitives.ReadInt32LittleEndian(record[48..]));
        problem = null;
        return true;
    }

    /// <summary>The exact-key bytes of a validated record.</summary>
    public static ReadOnlySpan<byte> ExactKeyText(ReadOnlySpan<byte> record)
    {
        var offset = HeaderSize + (BinaryPrimitives.ReadInt32LittleEndian(record[48..]) * 4) + record[54];
        return record.Slice(offset, BinaryPrimitives.ReadInt32LittleEndian(record[56..]));
    }

    /// <summary>The vector of a validated record.</summary>
    public static float[] ReadVector(ReadOnlySpan<byte> record)
    {
        var dimension = BinaryPrimitives.ReadInt32LittleEndian(record[48..]);
        if (dimension == 0)
        {
            return [];
        }

        var vector = new float[dimension];
        var bytes = record.Slice(HeaderSize, dimension * 4);
        if (BitConverter.IsLittleEndian)
        {
            bytes.CopyTo(MemoryMarshal.AsBytes(vector.AsSpan()));
        }
        else
        {
            for (var i = 0; i < dimension; i++)
            {
                vector[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
            }
        }

        return vector;
    }

    /// <summary>Decodes a record validated by <see cref="TryReadHeader"/>; without <paramref name="includeVector"/> the entry's vector is left empty.</summary>
    public static CacheEntry Decode(ReadOnlySpan<byte> record, long expiresOverrideMs, bool includeVector = true)
    {
        var dimension = BinaryPrimitives.ReadInt32LittleEndian(record[48..]);
        var attributeCount = BinaryPrimitives.ReadUInt16LittleEndian(record[52..]);
        int fingerprintLength = record[54];
        var keyLength = BinaryPrimitives.ReadInt32LittleEndian(record[56..]);
        var nsLength = BinaryPrimitives.ReadInt32LittleEndian(record[60..]);
        var modelLength = BinaryPrimitives.ReadInt32LittleEndian(record[64..]);
        var promptLength = BinaryPrimitives.ReadInt32LittleEndian(record[68..]);
        var responseLength = BinaryPrimitives.ReadInt32LittleEndian(record[72..]);

        var offset = HeaderSize + (dimension * 4);
        var fingerprint = record.Slice(offset, fingerprintLength).ToArray();
        offset += fingerprintLength + keyLength;
        var ns = Utf8.GetString(record.Slice(offset, nsLength));
        offset += nsLength;
        var model = Utf8.GetString(record.Slice(offset, modelLength));
        offset += modelLength;
        var prompt = Utf8.GetString(record.Slice(offset, promptLength));
        offset += promptLength;
        var response = Utf8.GetString(record.Slice(offset, responseLength));
        offset += responseLength;
        var attributes = attributeCount == 0 ? [] : new KeyValuePair<string, string>[attributeCount];
        for (var i = 0; i < attributeCount; i++)
        {
            var k = ReadString(record, ref offset);
            var v = ReadString(record, ref offset);
            attributes[i] = new KeyValuePair<string, string>(k, v);
        }

        return new CacheEntry
        {
            Id = BinaryPrimitives.ReadUInt64LittleEndian(record[8..]),
            Namespace = ns,
            Attributes = attributes,
            ContextFingerprint = fingerprint,
            Prompt = prompt,
            Response = response,
            CreatedUnixMs = BinaryPrimitives.ReadInt64LittleEndian(record[24..]),
            ExpiresUnixMs = expiresOverrideMs,
            Usage = new TokenUsage(model, BinaryPrimitives.ReadInt32LittleEndian(record[40..]), BinaryPrimitives.ReadInt32LittleEndian(record[44..])),
            Vector = includeVector ? ReadVector(record) : ReadOnlyMemory<float>.Empty,
        };
    }

    /// <summary>The directory metadata of a validated record (replay, and a directory rebuilt from the records).</summary>
    public static EntryMeta ToMeta(ReadOnlySpan<byte> record, in Header header)
    {
        var hasher = new XxHash128((long)header.Partition);
        hasher.Append(ExactKeyText(record));
        return new EntryMeta
        {
            Id = header.Id,
            ExactHash = hasher.GetCurrentHashAsUInt128(),
            Partition = header.Partition,
            NamespaceHash = NamespaceHash(NamespaceBytes(record)),
            CreatedMs = header.CreatedMs,
            ExpiresMs = header.ExpiresMs,
            TtlMs = header.ExpiresMs - header.CreatedMs,
            LastHitMs = header.CreatedMs,
            Bytes = header.Length,
            VectorDimension = header.VectorDimension,
        };
    }

    /// <summary>Namespace bytes of a validated record (for the namespace hash on replay).</summary>
    public static ReadOnlySpan<byte> NamespaceBytes(ReadOnlySpan<byte> record)
    {
        var offset = HeaderSize + (BinaryPrimitives.ReadInt32LittleEndian(record[48..]) * 4) + record[54] + BinaryPrimitives.ReadInt32LittleEndian(record[56..]);
        return record.Slice(offset, BinaryPrimitives.ReadInt32LittleEndian(record[60..]));
    }

    private static string ReadString(ReadOnlySpan<byte> record, ref int offset)
    {
        var length = BinaryPrimitives.ReadInt32LittleEndian(record[offset..]);
        if (length < 0 || offset + 4 + length > record.Length - TrailerSize)
        {
            throw new InvalidDataException("Entry record attribute length is out of range.");
        }

        var value = Utf8.GetString(record.Slice(offset + 4, length));
        offset += 4 + length;
        return value;
    }

    /// <summary>Hash of a namespace, used by <see cref="EntryStore.DeleteNamespaceAsync"/>.</summary>
    /// <remarks>
    /// SHA-256, not a fast non-cryptographic hash: deleting a namespace matches on this hash alone, and one tenant must
    /// not be able to choose a namespace name whose hash equals another tenant's.
    /// </remarks>
    [SkipLocalsInit]
    public static ulong NamespaceHash(ReadOnlySpan<byte> utf8Namespace)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(utf8Namespace, digest);
        return BinaryPrimitives.ReadUInt64LittleEndian(digest);
    }

    /// <summary>Hash of a namespace string.</summary>
    [SkipLocalsInit]
    public static ulong NamespaceHash(string ns)
    {
        var max = Utf8.GetMaxByteCount(ns.Length);
        byte[]? rented = null;
        var buffer = max <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            var length = Utf8.GetBytes(ns, buffer);
            return NamespaceHash(buffer[..length]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
