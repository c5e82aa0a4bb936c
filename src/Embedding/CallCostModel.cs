namespace SemCache.Embedding;

/// <summary>
/// What one model call costs on this machine, learnt from the calls made: an exponentially weighted least-squares fit
/// of <c>seconds = fixed + perToken × padded tokens</c>. Its ratio, the fixed cost in padded tokens, tells the batcher
/// when splitting a batch by length pays: on a CPU a call's fixed cost is a few tokens' worth, so texts of different
/// lengths go in different calls; on a GPU it is hundreds, so they share one. Used by the batcher's worker only.
/// </summary>
internal sealed class CallCostModel
{
    /// <summary>The estimate until enough calls of different sizes were seen: measured for all-MiniLM-L6-v2 on a 2-core Zen 4 (docs/benchmarks.md).</summary>
    public const double DefaultOverheadTokens = 8;

    /// <summary>Bounds of the estimate, so one odd run of measurements cannot make every call one text or one giant batch.</summary>
    public const double MinOverheadTokens = 1, MaxOverheadTokens = 512;

    private const double Decay = 0.995; // about the last 200 calls
    private const double MinWeight = 16;
    private double _weight, _x, _y, _xx, _xy;

    public double OverheadTokens { get; private set; } = DefaultOverheadTokens;

    public void Observe(int paddedTokens, double seconds)
    {
        if (paddedTokens <= 0 || !(seconds > 0) || double.IsInfinity(seconds))
        {
            return;
        }

        double x = paddedTokens;
        _weight = (_weight * Decay) + 1;
        _x = (_x * Decay) + x;
        _y = (_y * Decay) + seconds;
        _xx = (_xx * Decay) + (x * x);
        _xy = (_xy * Decay) + (x * seconds);
        if (_weight < MinWeight)
        {
            return;
        }

        double meanX = _x / _weight, meanY = _y / _weight;
        double varX = (_xx / _weight) - (meanX * meanX);
        // Sizes must differ (by a couple of tokens at least) for the slope to mean anything; otherwise keep the estimate.
        if (varX < 4)
        {
            return;
        }

        double slope = ((_xy / _weight) - (meanX * meanY)) / varX;
        if (!(slope > 0))
        {
            return;
        }

        double intercept = meanY - (slope * meanX);
        OverheadTokens = Math.Clamp(intercept / slope, MinOverheadTokens, MaxOverheadTokens);
    }
}
