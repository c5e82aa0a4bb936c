namespace SemCache.LoadTool.Workloads;

/// <summary>
/// Draws ranks 0..n-1 with probability proportional to 1/(rank+1)^exponent: a few prompts are asked very often and a
/// long tail rarely, which is how questions to an LLM app are distributed. Exponent 0 is uniform; about 1 is typical.
/// Inverse-CDF sampling over a precomputed table: exact (no approximation of the harmonic sum) and O(log n) a draw.
/// </summary>
internal sealed class ZipfGenerator
{
    private readonly double[] _cumulative;
    private readonly Random _random;

    public ZipfGenerator(int count, double exponent, Random random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(exponent);
        ArgumentNullException.ThrowIfNull(random);
        _random = random;
        _cumulative = new double[count];
        double sum = 0;
        for (int rank = 0; rank < count; rank++)
        {
            sum += 1.0 / Math.Pow(rank + 1, exponent);
            _cumulative[rank] = sum;
        }

        for (int rank = 0; rank < count; rank++)
        {
            _cumulative[rank] /= sum;
        }

        _cumulative[count - 1] = 1.0; // no rounding gap at the top
    }

    public int Count => _cumulative.Length;

    /// <summary>The probability of drawing <paramref name="rank"/>.</summary>
    public double Probability(int rank) => rank == 0 ? _cumulative[0] : _cumulative[rank] - _cumulative[rank - 1];

    public int Next()
    {
        double u = _random.NextDouble();
        int index = Array.BinarySearch(_cumulative, u);
        // BinarySearch gives the complement of the first larger element when u is not in the table.
        index = index >= 0 ? index + 1 : ~index;
        return Math.Min(index, _cumulative.Length - 1);
    }
}
