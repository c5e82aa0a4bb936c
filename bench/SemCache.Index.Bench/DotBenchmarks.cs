using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;

namespace SemCache.Index.Bench;

/// <summary>
/// The float dot-product kernels side by side (dotnet/runtime#126250: explicit Vector256 code regressed on some CPUs
/// in .NET 10), plus the int8 kernel used for quantized traversal. Vectors are 64-byte aligned like index rows.
/// </summary>
[MemoryDiagnoser]
public unsafe class DotBenchmarks
{
    private float* _x;
    private float* _y;
    private sbyte* _qx;
    private sbyte* _qy;

    [Params(384, 768)]
    public int Dimension { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _x = (float*)NativeMemory.AlignedAlloc((nuint)Dimension * 4, 64);
        _y = (float*)NativeMemory.AlignedAlloc((nuint)Dimension * 4, 64);
        _qx = (sbyte*)NativeMemory.AlignedAlloc((nuint)Dimension, 64);
        _qy = (sbyte*)NativeMemory.AlignedAlloc((nuint)Dimension, 64);
        var random = new Random(1);
        for (int i = 0; i < Dimension; i++)
        {
            _x[i] = (float)random.NextDouble() - 0.5f;
            _y[i] = (float)random.NextDouble() - 0.5f;
            _qx[i] = (sbyte)random.Next(-127, 128);
            _qy[i] = (sbyte)random.Next(-127, 128);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        NativeMemory.AlignedFree(_x);
        NativeMemory.AlignedFree(_y);
        NativeMemory.AlignedFree(_qx);
        NativeMemory.AlignedFree(_qy);
    }

    [Benchmark(Baseline = true)]
    public float TensorPrimitivesDot() => VectorMath.DotTensorPrimitives(new ReadOnlySpan<float>(_x, Dimension), new ReadOnlySpan<float>(_y, Dimension));

    [Benchmark]
    public float Vector256Fma() => VectorMath.DotVector256(ref *_x, ref *_y, Dimension);

    [Benchmark]
    public float Vector512Fma() => VectorMath.DotVector512(ref *_x, ref *_y, Dimension);

    [Benchmark]
    public int Int8Dot() => VectorMath.DotInt8(ref *_qx, ref *_qy, Dimension);
}
