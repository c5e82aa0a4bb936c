using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace SemCache.Index;

// Distance spaces: the query side of a similarity (float rows, or int8 codes with per-vector scales), as structs behind
// a static interface so that the search loops are specialised and the similarity inlined.
public sealed unsafe partial class HnswIndex
{
    internal interface ISpace
    {
        float Similarity(int slot);

        void Prefetch(int slot);
    }

    private readonly struct FloatSpace : ISpace
    {
        private readonly HnswIndex _index;
        private readonly float* _query;

        public FloatSpace(HnswIndex index, float* query)
        {
            _index = index;
            _query = query;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Similarity(int slot) => VectorMath.Dot(ref *_query, ref *_index.FloatRow(slot), _index._dimension);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(int slot)
        {
            if (Sse.IsSupported)
            {
                byte* p = (byte*)_index.FloatRow(slot);
                Sse.Prefetch0(p);
                Sse.Prefetch0(p + 64);
                Sse.Prefetch0(p + 128);
                Sse.Prefetch0(p + 192);
            }
        }
    }

    private readonly struct Int8Space : ISpace
    {
        private readonly HnswIndex _index;
        private readonly sbyte* _codes;
        private readonly float _scale;

        public Int8Space(HnswIndex index, sbyte* codes, float scale)
        {
            _index = index;
            _codes = codes;
            _scale = scale;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Similarity(int slot)
        {
            NodeChunk chunk = _index.ChunkOf(slot);
            int i = slot & ChunkMask;
            sbyte* row = chunk.CodeRows + ((nint)i * chunk.CodeStride);
            return _scale * chunk.Scales![i] * VectorMath.DotInt8(ref *_codes, ref *row, _index._dimension);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Prefetch(int slot)
        {
            if (Sse.IsSupported)
            {
                NodeChunk chunk = _index.ChunkOf(slot);
                byte* p = (byte*)(chunk.CodeRows + ((nint)(slot & ChunkMask) * chunk.CodeStride));
                Sse.Prefetch0(p);
                Sse.Prefetch0(p + 64);
            }
        }
    }

    /// <summary>Similarity of two stored nodes in the traversal representation (int8 codes or floats).</summary>
    private float NodeSimilarity(int a, int b)
    {
        if (_int8)
        {
            NodeChunk ca = ChunkOf(a), cb = ChunkOf(b);
            int ia = a & ChunkMask, ib = b & ChunkMask;
            return ca.Scales![ia] * cb.Scales![ib] * VectorMath.DotInt8(
                ref *(ca.CodeRows + ((nint)ia * ca.CodeStride)), ref *(cb.CodeRows + ((nint)ib * cb.CodeStride)), _dimension);
        }

        return VectorMath.Dot(ref *FloatRow(a), ref *FloatRow(b), _dimension);
    }
}
