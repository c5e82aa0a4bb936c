using System.Buffers.Binary;
using System.Globalization;

namespace SemCache.Storage;

/// <summary>What <see cref="WriteAheadLogReader.Next"/> found at an address.</summary>
internal enum WalItemKind
{
    /// <summary>An intact operation record.</summary>
    Record,

    /// <summary>An intact commit record of FASTER's fast-commit mode: everything before it was committed.</summary>
    Commit,

    /// <summary>Bytes that are not an intact record, up to the next intact one (or the end).</summary>
    Damaged,

    /// <summary>No more data.</summary>
    End,
}

/// <summary>One item of the write-ahead log: an address, a length in bytes, and for a record its payload.</summary>
internal readonly record struct WalItem(WalItemKind Kind, long Address, long Bytes, ReadOnlyMemory<byte> Payload, string? Problem);

/// <summary>
/// Reads the write-ahead log's segment files directly, in FASTER Log's on-disk format, for recovery.
/// </summary>
/// <remarks>
/// <para>Why not FASTER's own iterator: FasterLog's recovery scans forward for commit records and stops at the first
/// damaged record, so one flipped byte hides every committed record after it; and its iterator, after a checksum
/// failure, resumes 12 bytes into the damaged record. This reader skips exactly the damaged bytes and resynchronises on
/// the next intact record, so replay loses only what was damaged.</para>
/// <para>Format (FasterLog with <c>LogChecksumType.PerEntry</c>): records never span a page; each is a 12-byte header
/// (u64 XOR checksum of the next 4 + length bytes, i32 length; negative for a commit record) and the payload padded to
/// 4 bytes; zeros pad a page's end; an all-zero page start is the end of the data. Address <c>a</c> lives in file
/// <c>wal.log.{a &gt;&gt; segmentBits}</c> at offset <c>a &amp; (segmentSize - 1)</c>.</para>
/// </remarks>
internal sealed class WriteAheadLogReader : IDisposable
{
    private const int HeaderSize = 12;
    private readonly string _basePath;
    private readonly int _pageBits;
    private readonly int _segmentBits;
    private readonly Func<ReadOnlySpan<byte>, bool> _isOperation;
    private readonly byte[] _page;
    private long _pageAddress = -1;
    private Microsoft.Win32.SafeHandles.SafeFileHandle? _handle;
    private long _segment = -1;
    private long _address;

    /// <param name="basePath">Segment files are <c>{basePath}.{segment}</c>.</param>
    /// <param name="pageBits">log2 of the log's page size.</param>
    /// <param name="segmentBits">log2 of the segment size.</param>
    /// <param name="from">A record boundary to start at.</param>
    /// <param name="isOperation">Strong check of a payload, used to resynchronise after damage (the XOR checksum is weak).</param>
    public WriteAheadLogReader(string basePath, int pageBits, int segmentBits, long from, Func<ReadOnlySpan<byte>, bool> isOperation)
    {
        _basePath = basePath;
        _pageBits = pageBits;
        _segmentBits = segmentBits;
        _isOperation = isOperation;
        _page = new byte[1 << pageBits];
        _address = Math.Max(from, 64); // FASTER's first valid address
    }

    private int PageSize => _page.Length;

    /// <summary>The next item; a <see cref="WalItemKind.Record"/> payload is valid until the next call.</summary>
    public WalItem Next()
    {
        while (true)
        {
            if (!LoadPage(_address))
            {
                return new WalItem(WalItemKind.End, _address, 0, default, null);
            }

            var offset = (int)(_address & (PageSize - 1));
            if (offset + HeaderSize > PageSize)
            {
                _address = NextPage(_address);
                continue;
            }

            var shape = Inspect(offset, strong: false);
            switch (shape)
            {
                case Shape.EndOfData:
                    // Usually the end; but a range the device failed to write (a disk-full episode) reads as zeros too,
                    // and intact records may follow it.
                    return FindAfterHole();
                case Shape.Padding:
                    _address = NextPage(_address);
                    continue;
                case Shape.Intact:
                case Shape.IntactCommit:
                    {
                        var length = Math.Abs(BinaryPrimitives.ReadInt32LittleEndian(_page.AsSpan(offset + 8)));
                        var at = _address;
                        var size = HeaderSize + Align(length);
                        _address = offset + size >= PageSize ? NextPage(at) : at + size;
                        return shape == Shape.Intact
                            ? new WalItem(WalItemKind.Record, at, size, _page.AsMemory(offset + HeaderSize, length), null)
                            : new WalItem(WalItemKind.Commit, at, size, default, null);
                    }

                default:
                    return Resynchronise(offset, shape == Shape.BadLength ? "its length field is out of range" : "its checksum does not match");
            }
        }
    }

    private enum Shape
    {
        Intact,
        IntactCommit,
        Padding,
        EndOfData,
        BadLength,
        BadChecksum,
    }

    private Shape Inspect(int offset, bool strong)
    {
        var page = _page.AsSpan();
        var length = BinaryPrimitives.ReadInt32LittleEndian(page[(offset + 8)..]);
        if (length == 0 && BinaryPrimitives.ReadUInt64LittleEndian(page[offset..]) == 0)
        {
            if (page[offset..].ContainsAnyExcept((byte)0))
            {
                return Shape.BadLength;
            }

            return offset == 0 || (offset <= 64 && (_address >> _pageBits) == 0) ? Shape.EndOfData : Shape.Padding;
        }

        var commit = length < 0;
        var absolute = commit ? -(long)length : length;
        if (absolute <= 0 || offset + HeaderSize + Align(absolute) > PageSize)
        {
            return Shape.BadLength;
        }

        var stored = BinaryPrimitives.ReadUInt64LittleEndian(page[offset..]);
        if (Xor(page.Slice(offset + 8, (int)absolute + 4)) != stored)
        {
            return Shape.BadChecksum;
        }

        if (strong && !commit && !_isOperation(page.Slice(offset + HeaderSize, (int)absolute)))
        {
            return Shape.BadChecksum;
        }

        return commit ? Shape.IntactCommit : Shape.Intact;
    }

    /// <summary>
    /// Finds the next intact record after damaged bytes at the current address: where the damaged record's own length
    /// says it ends if that is intact, else the first 4-byte-aligned position in this page that holds an intact record,
    /// else the start of the next page that does (records never span pages).
    /// </summary>
    private WalItem Resynchronise(int offset, string reason)
    {
        var damagedAt = _address;
        var pageStart = _address - offset;
        var length = BinaryPrimitives.ReadInt32LittleEndian(_page.AsSpan(offset + 8));
        if (length > 0 && offset + HeaderSize + Align(length) <= PageSize)
        {
            var end = offset + HeaderSize + Align(length);
            if (end + HeaderSize > PageSize || Inspect(end, strong: true) is Shape.Intact or Shape.IntactCommit or Shape.Padding or Shape.EndOfData)
            {
                _address = end + HeaderSize > PageSize ? NextPage(damagedAt) : pageStart + end;
                return Damaged(damagedAt, _address - damagedAt, reason);
            }
        }

        for (var candidate = offset + 4; candidate + HeaderSize <= PageSize; candidate += 4)
        {
            if (Inspect(candidate, strong: true) is Shape.Intact or Shape.IntactCommit)
            {
                _address = pageStart + candidate;
                return Damaged(damagedAt, _address - damagedAt, reason);
            }
        }

        for (var page = NextPage(damagedAt); LoadPage(page); page = NextPage(page))
        {
            var shape = Inspect(0, strong: true);
            if (shape == Shape.EndOfData)
            {
                break;
            }

            if (shape is Shape.Intact or Shape.IntactCommit)
            {
                _address = page;
                return Damaged(damagedAt, page - damagedAt, reason);
            }
        }

        // Nothing intact follows: the damage runs to the end of the data (a torn tail, or a damaged end).
        var dataEnd = DataEnd(damagedAt);
        _address = long.MaxValue;
        return Damaged(damagedAt, Math.Max(dataEnd - damagedAt, HeaderSize), reason);
    }

    private WalItem FindAfterHole()
    {
        var holeAt = _address;
        for (var page = NextPage(holeAt); LoadPage(page); page = NextPage(page))
        {
            if (Inspect(0, strong: true) is Shape.Intact or Shape.IntactCommit)
            {
                _address = page;
                return Damaged(holeAt, page - holeAt, "it reads as zeros (a range that was never written)");
            }
        }

        _address = long.MaxValue;
        return new WalItem(WalItemKind.End, holeAt, 0, default, null);
    }

    private static WalItem Damaged(long address, long bytes, string reason) =>
        new(WalItemKind.Damaged, address, bytes, default, $"{bytes} bytes at address {address}: {reason}");

    private long DataEnd(long from)
    {
        var segment = from >> _segmentBits;
        var path = SegmentPath(segment);
        return File.Exists(path) ? (segment << _segmentBits) + new FileInfo(path).Length : from;
    }

    private long NextPage(long address) => ((address >> _pageBits) + 1) << _pageBits;

    private string SegmentPath(long segment) => _basePath + "." + segment.ToString(CultureInfo.InvariantCulture);

    /// <summary>Loads the page holding <paramref name="address"/>; false past the end of the files.</summary>
    private bool LoadPage(long address)
    {
        if (address == long.MaxValue)
        {
            return false;
        }

        var pageAddress = address & ~((long)PageSize - 1);
        if (pageAddress == _pageAddress)
        {
            return true;
        }

        var segment = pageAddress >> _segmentBits;
        var path = SegmentPath(segment);
        if (!File.Exists(path))
        {
            return false;
        }

        if (_segment != segment)
        {
            _handle?.Dispose();
            _handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            _segment = segment;
        }

        var handle = _handle!;
        var offset = pageAddress & ((1L << _segmentBits) - 1);
        if (offset >= RandomAccess.GetLength(handle))
        {
            return false;
        }

        var read = 0;
        while (read < PageSize)
        {
            var n = RandomAccess.Read(handle, _page.AsSpan(read), offset + read);
            if (n == 0)
            {
                break;
            }

            read += n;
        }

        _page.AsSpan(read).Clear();
        _pageAddress = pageAddress;
        return true;
    }

    public void Dispose()
    {
        _handle?.Dispose();
        _handle = null;
    }

    private static int Align(long length) => (int)((length + 3) & ~3L);

    /// <summary>FASTER's per-entry checksum: XOR of the little-endian 64-bit words, then of each remaining byte.</summary>
    internal static ulong Xor(ReadOnlySpan<byte> data)
    {
        ulong result = 0;
        var i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            result ^= BinaryPrimitives.ReadUInt64LittleEndian(data[i..]);
        }

        for (; i < data.Length; i++)
        {
            result ^= data[i];
        }

        return result;
    }
}
