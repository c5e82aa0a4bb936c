using System.Buffers.Binary;
using Google.Protobuf;

namespace SemCache.LoadTool.Load;

/// <summary>
/// gRPC's length-prefixed message framing (PROTOCOL-HTTP2.md, "Length-Prefixed-Message"): a compressed flag byte (0,
/// uncompressed), the message length as a 4-byte big-endian unsigned integer, then the protobuf bytes. This is the
/// request body a plain HTTP/2 client such as h2load must send for a unary call.
/// </summary>
internal static class GrpcFrame
{
    public const int HeaderLength = 5;

    public static byte[] Frame(IMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        byte[] payload = message.ToByteArray();
        var frame = new byte[HeaderLength + payload.Length];
        frame[0] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1, 4), (uint)payload.Length);
        payload.CopyTo(frame, HeaderLength);
        return frame;
    }

    /// <summary>The message bytes of one frame, checking the header; the inverse of <see cref="Frame"/>.</summary>
    public static ReadOnlyMemory<byte> Unframe(ReadOnlyMemory<byte> frame)
    {
        ReadOnlySpan<byte> span = frame.Span;
        if (span.Length < HeaderLength)
        {
            throw new FormatException("a gRPC frame has at least 5 bytes");
        }

        if (span[0] != 0)
        {
            throw new FormatException("compressed gRPC frames are not supported");
        }

        uint length = BinaryPrimitives.ReadUInt32BigEndian(span[1..HeaderLength]);
        if (length != span.Length - HeaderLength)
        {
            throw new FormatException($"the frame says {length} bytes but holds {span.Length - HeaderLength}");
        }

        return frame[HeaderLength..];
    }
}
