namespace SemCache.Index;

// Snapshot read/write: the graph's flat arrays as they lie in memory, read back into fresh chunks without a rebuild.
public sealed unsafe partial class HnswIndex
{
    /// <summary>Writes the graph as flat arrays; the caller holds no lock, we take the mutation gate exclusively.</summary>
    internal void WriteTo(SnapshotWriter writer)
    {
        _mutationGate.EnterWriteLock();
        try
        {
            int high = _highWater;
            writer.WriteByte((byte)(_int8 ? 1 : 0));
            writer.WriteInt32(high);
            writer.WriteInt64(Volatile.Read(ref _entry));
            writer.WriteInt64(_levelCounter);
            for (int c = 0; c * ChunkSize < high; c++)
            {
                NodeChunk chunk = _chunks[c]!;
                int rows = Math.Min(ChunkSize, high - (c * ChunkSize));
                writer.Write<long>(chunk.Ids.AsSpan(0, rows));
                writer.Write<byte>(chunk.Levels.AsSpan(0, rows));
                writer.Write<byte>(chunk.States.AsSpan(0, rows));
                writer.Write<int>(chunk.Links0.AsSpan(0, rows * _level0Stride));
                writer.Write(new ReadOnlySpan<float>(chunk.FloatRows, rows * _dimension));
                if (_int8)
                {
                    writer.Write(new ReadOnlySpan<sbyte>(chunk.CodeRows, rows * chunk.CodeStride));
                    writer.Write<float>(chunk.Scales.AsSpan(0, rows));
                }

                for (int i = 0; i < rows; i++)
                {
                    if (chunk.Levels[i] > 0)
                    {
                        int[] upper = chunk.Upper[i] ?? new int[chunk.Levels[i] * _upperStride];
                        writer.Write<int>(upper);
                    }
                }
            }

            int[] free = [.. _freeSlots];
            writer.WriteInt32(free.Length);
            writer.Write<int>(free);
        }
        finally
        {
            _mutationGate.ExitWriteLock();
        }
    }

    /// <summary>Reads a graph written by <see cref="WriteTo"/> straight into fresh chunks: no rebuild.</summary>
    internal static HnswIndex ReadFrom(SnapshotReader reader, VectorIndexOptions options)
    {
        var index = new HnswIndex(options);
        try
        {
            index.ReadBody(reader);
            return index;
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    private void ReadBody(SnapshotReader reader)
    {
        bool int8 = reader.ReadByte() != 0;
        if (int8 != _int8)
        {
            ThrowHelper.Corrupt("graph quantization differs from the header's.");
        }

        int high = reader.ReadInt32();
        long perRow = 8 + 1 + 1 + (4L * _level0Stride) + (4L * _dimension);
        if (high < 0)
        {
            ThrowHelper.Corrupt("negative slot count.");
        }

        reader.EnsureAvailable(high * perRow);
        long entry = reader.ReadInt64();
        _levelCounter = reader.ReadInt64();
        if (high > 0)
        {
            EnsureChunk((high - 1) >> ChunkShift);
        }

        int live = 0;
        for (int c = 0; c * ChunkSize < high; c++)
        {
            NodeChunk chunk = _chunks[c]!;
            int rows = Math.Min(ChunkSize, high - (c * ChunkSize));
            reader.Read<long>(chunk.Ids.AsSpan(0, rows));
            reader.Read<byte>(chunk.Levels.AsSpan(0, rows));
            reader.Read<byte>(chunk.States.AsSpan(0, rows));
            reader.Read<int>(chunk.Links0.AsSpan(0, rows * _level0Stride));
            reader.Read(new Span<float>(chunk.FloatRows, rows * _dimension));
            if (_int8)
            {
                reader.Read(new Span<sbyte>(chunk.CodeRows, rows * chunk.CodeStride));
                reader.Read<float>(chunk.Scales.AsSpan(0, rows));
            }

            for (int i = 0; i < rows; i++)
            {
                int level = chunk.Levels[i];
                byte state = chunk.States[i];
                if (level > MaxLevel || state > NodeChunk.Live)
                {
                    ThrowHelper.Corrupt("node level or state out of range.");
                }

                if (level > 0)
                {
                    int[] upper = new int[level * _upperStride];
                    reader.Read<int>(upper);
                    chunk.Upper[i] = upper;
                }

                if (state == NodeChunk.Live)
                {
                    live++;
                    if (MapTryGet(chunk.Ids[i], out _))
                    {
                        ThrowHelper.Corrupt("an id appears twice.");
                    }

                    MapAdd(chunk.Ids[i], (c * ChunkSize) + i);
                }
            }
        }

        int freeCount = reader.ReadCount(4);
        int[] free = new int[freeCount];
        reader.Read<int>(free);
        for (int i = free.Length - 1; i >= 0; i--)
        {
            if ((uint)free[i] >= (uint)high)
            {
                ThrowHelper.Corrupt("free slot out of range.");
            }

            _freeSlots.Push(free[i]);
        }

        int ep = EntryOf(entry);
        if (live + freeCount != high || (live > 0 && ((uint)ep >= (uint)high || !IsLive(ep))) || (live == 0 && ep != -1))
        {
            ThrowHelper.Corrupt("slot accounting or entry point is inconsistent.");
        }

        _highWater = high;
        _count = live;
        _entry = entry;
    }
}
