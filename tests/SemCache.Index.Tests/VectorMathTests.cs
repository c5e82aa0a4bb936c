namespace SemCache.Index.Tests;

public class VectorMathTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(16)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(100)]
    [InlineData(384)]
    [InlineData(385)]
    public void FloatKernelsAgreeWithScalar(int length)
    {
        var random = new Random(length);
        float[] a = TestData.Gaussian(random, length, 1f), b = TestData.Gaussian(random, length, 1f);
        float expected = TestData.Dot(a, b);
        float tolerance = 1e-4f * length;
        Assert.Equal(expected, VectorMath.Dot(a, b), tolerance);
        Assert.Equal(expected, VectorMath.DotTensorPrimitives(a, b), tolerance);
        Assert.Equal(expected, VectorMath.DotVector512(ref a[0], ref b[0], length), tolerance);
        Assert.Equal(expected, VectorMath.DotVector256(ref a[0], ref b[0], length), tolerance);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(64)]
    [InlineData(100)]
    [InlineData(384)]
    public void Int8KernelIsExact(int length)
    {
        var random = new Random(length);
        var a = new sbyte[length];
        var b = new sbyte[length];
        int expected = 0;
        for (int i = 0; i < length; i++)
        {
            a[i] = (sbyte)random.Next(-127, 128);
            b[i] = (sbyte)random.Next(-127, 128);
            expected += a[i] * b[i];
        }

        Assert.Equal(expected, VectorMath.DotInt8(ref a[0], ref b[0], length));
    }

    [Fact]
    public void Int8QuantizationApproximatesCosine()
    {
        float[][] v = TestData.Clustered(50, 384, 3, seed: 5);
        var qa = new sbyte[384];
        var qb = new sbyte[384];
        for (int i = 1; i < v.Length; i++)
        {
            float sa = VectorMath.QuantizeInt8(v[0], qa);
            float sb = VectorMath.QuantizeInt8(v[i], qb);
            float approx = sa * sb * VectorMath.DotInt8(ref qa[0], ref qb[0], 384);
            Assert.Equal(TestData.Dot(v[0], v[i]), approx, 0.02f);
        }
    }

    [Fact]
    public void DotRejectsDifferentLengths() =>
        Assert.Throws<ArgumentException>(() => VectorMath.Dot(new float[3], new float[4]));
}
