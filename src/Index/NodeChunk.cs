using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;

namespace SemCache.Index;

/// <summary>
/// A block of raw memory for vector rows, 64-byte aligned so that every row of a 384-float (1,536-byte) vector starts
/// on a cache line. Either a pinned array on the pinned object heap (it never moves, so raw pointers into it stay
/// valid without a GCHandle) or a view of a delete-on-close memory-mapped file.
/// </summary>
internal sealed unsafe class RowBlock : IDisposable
{
    private readonly byte[]? _array;
    private readonly MemoryMappedFile? _file;
    private readonly MemoryMappedViewAccessor? _view;
    private bool _pointerAcquired;

    public RowBlock(long bytes, string? directory)
    {
        Length = bytes;
        if (directory is null)
        {
            _array = GC.AllocateArray<byte>(checked((int)(bytes + 64)), pinned: true);
            nint address = (nint)Unsafe.AsPointer(ref _array[0]);
            Pointer = (byte*)((address + 63) & ~(nint)63);
        }
        else
        {
            string path = Path.Combine(directory, "semcache-rescore-" + Guid.NewGuid().ToString("N") + ".f32");
            var stream = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 4096, FileOptions.DeleteOnClose);
            stream.SetLength(Math.Max(bytes, 4096));
            _file = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
            _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.ReadWrite);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _pointerAcquired = true;
            Pointer = p + _view.PointerOffset;
        }
    }

    public byte* Pointer { get; }

    public long Length { get; }

    /// <summary>Bytes this block keeps on the managed heap (0 for a mapped file).</summary>
    public long HeapBytes => _array?.LongLength ?? 0;

    public void Dispose()
    {
        if (_view is not null)
        {
            if (_pointerAcquired)
            {
                _view.SafeMemoryMappedViewHandle.ReleasePointer();
                _pointerAcquired = false;
            }

            _view.Dispose();
            _file!.Dispose();
        }
    }
}

/// <summary>
/// Storage of <see cref="HnswIndex.ChunkSize"/> consecutive slots. Chunks never move once allocated: the index grows
/// by adding chunks and swapping in a longer directory (RCU), so a search running during growth keeps valid pointers.
/// Everything per node lives in flat arrays here (no object per node), except the upper-level lists that only about
/// 1/M of nodes have (as in hnswlib).
/// </summary>
internal sealed unsafe class NodeChunk : IDisposable
{
    public const byte Free = 0;
    public const byte Live = 1;
    public const byte Deleted = 2;

    public NodeChunk(int chunkSize, int dimension, int level0Stride, bool int8, string? rescoreDirectory)
    {
        Links0 = new int[chunkSize * level0Stride];
        Upper = new int[]?[chunkSize];
        Ids = new long[chunkSize];
        Levels = new byte[chunkSize];
        States = new byte[chunkSize];
        Locks = new int[chunkSize];
        Generations = new uint[chunkSize];
        Floats = new RowBlock((long)chunkSize * dimension * sizeof(float), int8 ? rescoreDirectory : null);
        FloatRows = (float*)Floats.Pointer;
        if (int8)
        {
            CodeStride = (dimension + 63) & ~63;
            Codes = new RowBlock((long)chunkSize * CodeStride, null);
            CodeRows = (sbyte*)Codes.Pointer;
            Scales = new float[chunkSize];
        }
    }

    /// <summary>Level-0 lists: per slot [count, neighbour slots...] with room for 2·M neighbours.</summary>
    public int[] Links0 { get; }

    /// <summary>Per slot, levels 1..L packed as [count, M slots] each; null for level-0-only nodes.</summary>
    public int[]?[] Upper { get; }

    public long[] Ids { get; }

    public byte[] Levels { get; }

    /// <summary><see cref="Free"/>, <see cref="Live"/> or <see cref="Deleted"/> (being unlinked).</summary>
    public byte[] States { get; }

    /// <summary>Spin-lock word per node, guarding writes to its neighbour lists.</summary>
    public int[] Locks { get; }

    /// <summary>Per slot, bumped each time the slot is freed, so a reader can tell the node it found was not replaced.</summary>
    public uint[] Generations { get; }

    public RowBlock Floats { get; }

    public float* FloatRows { get; }

    public RowBlock? Codes { get; }

    public sbyte* CodeRows { get; }

    public int CodeStride { get; }

    public float[]? Scales { get; }

    public void Dispose()
    {
        Floats.Dispose();
        Codes?.Dispose();
    }
}
