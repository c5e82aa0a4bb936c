using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace SemCache.Index;

/// <summary>
/// Body writer of a snapshot: every byte goes through XxHash64 on its way to the file, and arrays are written as
/// they lie in memory (little-endian), so that loading is a bulk read into the same flat arrays.
/// </summary>
internal sealed class SnapshotWriter
{
    private readonly Stream _stream;
    private readonly XxHash64 _hash = new();

    public SnapshotWriter(Stream stream) => _stream = stream;

    public long BodyLength { get; private set; }

    public ulong Checksum => _hash.GetCurrentHashAsUInt64();

    public void Write<T>(ReadOnlySpan<T> data)
        where T : unmanaged
    {
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(data);
        _hash.Append(bytes);
        _stream.Write(bytes);
        BodyLength += bytes.Length;
    }

    public void WriteByte(byte value) => Write([value]);

    public void WriteInt32(int value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, value);
        Write<byte>(b);
    }

    public void WriteInt64(long value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, value);
        Write<byte>(b);
    }

    public void WriteUInt128(UInt128 value)
    {
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128LittleEndian(b, value);
        Write<byte>(b);
    }
}

/// <summary>
/// Body reader of a snapshot: hashes what it reads, and refuses to read (or to size an allocation) past the body
/// length given in the header, so a truncated or damaged file fails cleanly instead of allocating garbage sizes.
/// </summary>
internal sealed class SnapshotReader
{
    private readonly Stream _stream;
    private readonly XxHash64 _hash = new();
    private long _remaining;

    public SnapshotReader(Stream stream, long bodyLength)
    {
        _stream = stream;
        _remaining = bodyLength;
    }

    public long Remaining => _remaining;

    public ulong Checksum => _hash.GetCurrentHashAsUInt64();

    /// <summary>Throws unless <paramref name="bytes"/> more bytes can still be in the body.</summary>
    public void EnsureAvailable(long bytes)
    {
        if (bytes < 0 || bytes > _remaining)
        {
            ThrowHelper.Corrupt("a declared size runs past the end of the body.");
        }
    }

    public void Read<T>(Span<T> destination)
        where T : unmanaged
    {
        Span<byte> bytes = MemoryMarshal.AsBytes(destination);
        EnsureAvailable(bytes.Length);
        try
        {
            _stream.ReadExactly(bytes);
        }
        catch (EndOfStreamException)
        {
            ThrowHelper.Truncated("the file ends inside the body.");
        }

        _hash.Append(bytes);
        _remaining -= bytes.Length;
    }

    public byte ReadByte()
    {
        Span<byte> b = stackalloc byte[1];
        Read(b);
        return b[0];
    }

    public int ReadInt32()
    {
        Span<byte> b = stackalloc byte[4];
        Read(b);
        return BinaryPrimitives.ReadInt32LittleEndian(b);
    }

    public long ReadInt64()
    {
        Span<byte> b = stackalloc byte[8];
        Read(b);
        return BinaryPrimitives.ReadInt64LittleEndian(b);
    }

    public UInt128 ReadUInt128()
    {
        Span<byte> b = stackalloc byte[16];
        Read(b);
        return BinaryPrimitives.ReadUInt128LittleEndian(b);
    }

    /// <summary>Reads a count and checks it against the body bytes that each item needs at least.</summary>
    public int ReadCount(long minBytesPerItem)
    {
        int count = ReadInt32();
        if (count < 0)
        {
            ThrowHelper.Corrupt("negative count.");
        }

        EnsureAvailable(count * Math.Max(minBytesPerItem, 0));
        return count;
    }
}
