using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SemCache.Index;

/// <summary>
/// The similarity kernels. Unit vectors make cosine similarity a dot product. The float kernel actually used is
/// chosen once (<see cref="Dot(ref float, ref float, int)"/>) from the benchmark in
/// <c>bench/SemCache.Index.Bench</c>, which times TensorPrimitives.Dot against the explicit Vector256 and Vector512
/// kernels below on .NET 10 (dotnet/runtime#126250 reports Vector256 code regressing on some CPUs).
/// </summary>
public static class VectorMath
{
    /// <summary>Which float dot-product kernel <see cref="Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/> uses.</summary>
    public static string DotKernelName => UseVector512 ? "Vector512 (FMA, 4 accumulators)" : "TensorPrimitives.Dot";

    // Explicit Vector512 with four independent FMA chains measured faster than TensorPrimitives.Dot for the 384-d
    // vectors we index (see RESULTS.md); elsewhere TensorPrimitives picks the best width itself.
    private static readonly bool UseVector512 = Vector512.IsHardwareAccelerated && Fma.IsSupported;

    /// <summary>Dot product of two equally long vectors with the fastest kernel for this CPU.</summary>
    /// <param name="x">First vector.</param>
    /// <param name="y">Second vector, as long as <paramref name="x"/>.</param>
    /// <returns>The dot product.</returns>
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length)
        {
            ThrowHelper.DimensionMismatch(nameof(y), x.Length, y.Length);
        }

        return Dot(ref MemoryMarshal.GetReference(x), ref MemoryMarshal.GetReference(y), x.Length);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Dot(ref float x, ref float y, int length) =>
        UseVector512 ? DotVector512(ref x, ref y, length) : TensorPrimitives.Dot(
            MemoryMarshal.CreateReadOnlySpan(ref x, length), MemoryMarshal.CreateReadOnlySpan(ref y, length));

    /// <summary>TensorPrimitives.Dot (benchmark baseline).</summary>
    internal static float DotTensorPrimitives(ReadOnlySpan<float> x, ReadOnlySpan<float> y) => TensorPrimitives.Dot(x, y);

    /// <summary>Explicit Vector512 kernel: four accumulators hide the 4-cycle FMA latency.</summary>
    [SkipLocalsInit]
    internal static float DotVector512(ref float x, ref float y, int length)
    {
        nuint n = (nuint)length;
        nuint i = 0;
        float sum;
        if (Vector512.IsHardwareAccelerated && n >= (nuint)Vector512<float>.Count)
        {
            Vector512<float> a0 = Vector512<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i + 64 <= n; i += 64)
            {
                a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref x, i), Vector512.LoadUnsafe(ref y, i), a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref x, i + 16), Vector512.LoadUnsafe(ref y, i + 16), a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref x, i + 32), Vector512.LoadUnsafe(ref y, i + 32), a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref x, i + 48), Vector512.LoadUnsafe(ref y, i + 48), a3);
            }

            for (; i + 16 <= n; i += 16)
            {
                a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref x, i), Vector512.LoadUnsafe(ref y, i), a0);
            }

            sum = Vector512.Sum((a0 + a1) + (a2 + a3));
        }
        else
        {
            sum = 0f;
        }

        for (; i < n; i++)
        {
            sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref x, i), Unsafe.Add(ref y, i), sum);
        }

        return sum;
    }

    /// <summary>Explicit Vector256 kernel (benchmark comparison; see dotnet/runtime#126250).</summary>
    [SkipLocalsInit]
    internal static float DotVector256(ref float x, ref float y, int length)
    {
        nuint n = (nuint)length;
        nuint i = 0;
        float sum;
        if (Vector256.IsHardwareAccelerated && n >= (nuint)Vector256<float>.Count)
        {
            Vector256<float> a0 = Vector256<float>.Zero, a1 = a0, a2 = a0, a3 = a0;
            for (; i + 32 <= n; i += 32)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref x, i), Vector256.LoadUnsafe(ref y, i), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref x, i + 8), Vector256.LoadUnsafe(ref y, i + 8), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref x, i + 16), Vector256.LoadUnsafe(ref y, i + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref x, i + 24), Vector256.LoadUnsafe(ref y, i + 24), a3);
            }

            for (; i + 8 <= n; i += 8)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref x, i), Vector256.LoadUnsafe(ref y, i), a0);
            }

            sum = Vector256.Sum((a0 + a1) + (a2 + a3));
        }
        else
        {
            sum = 0f;
        }

        for (; i < n; i++)
        {
            sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref x, i), Unsafe.Add(ref y, i), sum);
        }

        return sum;
    }

    /// <summary>
    /// Integer dot product of two int8 vectors. Widening to 16 bits and multiply-add-adjacent (vpmaddwd) gives 32-bit
    /// partial sums that cannot overflow for any dimension below 2^17.
    /// </summary>
    [SkipLocalsInit]
    internal static int DotInt8(ref sbyte x, ref sbyte y, int length)
    {
        nuint n = (nuint)length;
        nuint i = 0;
        int sum = 0;
        if (Avx512BW.IsSupported && n >= 64)
        {
            Vector512<int> acc0 = Vector512<int>.Zero, acc1 = acc0;
            for (; i + 64 <= n; i += 64)
            {
                Vector512<sbyte> a = Vector512.LoadUnsafe(ref x, i);
                Vector512<sbyte> b = Vector512.LoadUnsafe(ref y, i);
                (Vector512<short> aLo, Vector512<short> aHi) = Vector512.Widen(a);
                (Vector512<short> bLo, Vector512<short> bHi) = Vector512.Widen(b);
                acc0 += Avx512BW.MultiplyAddAdjacent(aLo, bLo);
                acc1 += Avx512BW.MultiplyAddAdjacent(aHi, bHi);
            }

            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Avx2.IsSupported && n >= 32)
        {
            Vector256<int> acc0 = Vector256<int>.Zero, acc1 = acc0;
            for (; i + 32 <= n; i += 32)
            {
                Vector256<sbyte> a = Vector256.LoadUnsafe(ref x, i);
                Vector256<sbyte> b = Vector256.LoadUnsafe(ref y, i);
                (Vector256<short> aLo, Vector256<short> aHi) = Vector256.Widen(a);
                (Vector256<short> bLo, Vector256<short> bHi) = Vector256.Widen(b);
                acc0 += Avx2.MultiplyAddAdjacent(aLo, bLo);
                acc1 += Avx2.MultiplyAddAdjacent(aHi, bHi);
            }

            sum = Vector256.Sum(acc0 + acc1);
        }
        else if (Vector128.IsHardwareAccelerated && n >= 16)
        {
            Vector128<int> acc = Vector128<int>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                (Vector128<short> aLo, Vector128<short> aHi) = Vector128.Widen(Vector128.LoadUnsafe(ref x, i));
                (Vector128<short> bLo, Vector128<short> bHi) = Vector128.Widen(Vector128.LoadUnsafe(ref y, i));
                (Vector128<int> p0, Vector128<int> p1) = Vector128.Widen(aLo * bLo);
                (Vector128<int> p2, Vector128<int> p3) = Vector128.Widen(aHi * bHi);
                acc += (p0 + p1) + (p2 + p3);
            }

            sum = Vector128.Sum(acc);
        }

        for (; i < n; i++)
        {
            sum += Unsafe.Add(ref x, i) * Unsafe.Add(ref y, i);
        }

        return sum;
    }

    /// <summary>
    /// Quantizes <paramref name="source"/> to int8 with one scale per vector (<c>max|x| / 127</c>), so that
    /// <c>x·y ≈ scaleX·scaleY·Σ qx·qy</c>. Returns the scale.
    /// </summary>
    internal static float QuantizeInt8(ReadOnlySpan<float> source, Span<sbyte> destination)
    {
        float maxAbs = TensorPrimitives.MaxMagnitude(source);
        maxAbs = MathF.Abs(maxAbs);
        if (maxAbs == 0f)
        {
            destination.Clear();
            return 0f;
        }

        float inv = 127f / maxAbs;
        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = (sbyte)Math.Clamp(MathF.Round(source[i] * inv), -127f, 127f);
        }

        return maxAbs / 127f;
    }

    /// <summary>
    /// Checks that every component is finite and copies <paramref name="source"/> into <paramref name="destination"/>
    /// scaled to unit length (a no-op scale for vectors already within 1e-4 of unit length).
    /// </summary>
    internal static void ValidateAndNormalize(ReadOnlySpan<float> source, Span<float> destination, string paramName)
    {
        float sumSq = TensorPrimitives.SumOfSquares(source);
        if (!float.IsFinite(sumSq))
        {
            int bad = IndexOfNonFinite(source);
            if (bad >= 0)
            {
                ThrowHelper.NonFinite(paramName, bad);
            }

            // Finite but so large that the float sum of squares overflowed: fall back to double.
            double s = 0;
            foreach (float f in source)
            {
                s += (double)f * f;
            }

            TensorPrimitives.Multiply(source, (float)(1.0 / Math.Sqrt(s)), destination);
            return;
        }

        if (sumSq == 0f)
        {
            ThrowHelper.ZeroVector(paramName);
        }

        if (MathF.Abs(sumSq - 1f) <= 2e-4f)
        {
            source.CopyTo(destination);
        }
        else
        {
            TensorPrimitives.Multiply(source, 1f / MathF.Sqrt(sumSq), destination);
        }
    }

    private static int IndexOfNonFinite(ReadOnlySpan<float> source)
    {
        for (int i = 0; i < source.Length; i++)
        {
            if (!float.IsFinite(source[i]))
            {
                return i;
            }
        }

        return -1;
    }
}
