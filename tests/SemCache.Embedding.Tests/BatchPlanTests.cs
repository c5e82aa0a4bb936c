using SemCache.Embedding;

namespace SemCache.Embedding.Tests;

/// <summary>How the micro-batcher cuts a batch into model calls, and how it learns what a call costs.</summary>
public sealed class BatchPlanTests
{
    private static int[] Plan(int[] sortedLengths, double overhead, int maxBatchSize = 64, int maxBatchTokens = 8192)
    {
        var ends = new int[sortedLengths.Length];
        int calls = EmbeddingBatcher.PlanChunks(sortedLengths, maxBatchSize, maxBatchTokens, overhead, ends);
        return ends[..calls];
    }

    private static double Cost(int[] lengths, int[] ends, double overhead)
    {
        double cost = 0;
        int start = 0;
        foreach (int end in ends)
        {
            cost += overhead + ((end - start) * (double)lengths[end - 1]);
            start = end;
        }

        return cost;
    }

    [Fact]
    public void TextsOfOneLengthShareOneCall() =>
        Assert.Equal([32], Plan([.. Enumerable.Repeat(14, 32)], overhead: 8));

    [Fact]
    public void ShortAndLongTextsGoInSeparateCallsWhenThePaddingSavedOutweighsACall()
    {
        int[] lengths = [.. Enumerable.Repeat(12, 20), .. Enumerable.Repeat(90, 4)];
        Assert.Equal([20, 24], Plan(lengths, overhead: 8));
        // On a device where a call's fixed cost dwarfs the padding, they share one call.
        Assert.Equal([24], Plan(lengths, overhead: 5000));
    }

    [Fact]
    public void ThePlanIsNeverDearerThanOneCallOrOneCallPerText()
    {
        var random = new Random(7);
        for (int round = 0; round < 200; round++)
        {
            int[] lengths = [.. Enumerable.Range(0, random.Next(1, 64)).Select(_ => random.Next(3, 200)).Order()];
            double overhead = random.Next(0, 64);
            int[] ends = Plan(lengths, overhead, maxBatchTokens: 1 << 20);
            Assert.Equal(lengths.Length, ends[^1]);
            Assert.True(ends.Zip(ends.Skip(1)).All(p => p.First < p.Second));
            double planned = Cost(lengths, ends, overhead);
            Assert.True(planned <= Cost(lengths, [lengths.Length], overhead) + 1e-9, $"round {round}: dearer than one call");
            Assert.True(planned <= Cost(lengths, [.. Enumerable.Range(1, lengths.Length)], overhead) + 1e-9, $"round {round}: dearer than one call per text");
        }
    }

    [Fact]
    public void NoCallExceedsTheSizeOrTokenLimits()
    {
        int[] lengths = [.. Enumerable.Range(0, 64).Select(i => 10 + i)];
        int[] ends = Plan(lengths, overhead: 100_000, maxBatchSize: 16, maxBatchTokens: 600);
        int start = 0;
        foreach (int end in ends)
        {
            Assert.InRange(end - start, 1, 16);
            Assert.True((end - start) * lengths[end - 1] <= 600, $"call {start}..{end} pads to {(end - start) * lengths[end - 1]} tokens");
            start = end;
        }
    }

    [Fact]
    public void ATextLongerThanTheTokenLimitStillGetsACallOfItsOwn() =>
        Assert.Equal([1, 2], Plan([300, 300], overhead: 8, maxBatchTokens: 256));

    [Fact]
    public void TheCostModelLearnsTheFixedCostOfACall()
    {
        var model = new CallCostModel();
        Assert.Equal(CallCostModel.DefaultOverheadTokens, model.OverheadTokens);
        // 1 ms per call plus 50 µs per padded token: the fixed cost is worth 20 tokens.
        for (int i = 0; i < 200; i++)
        {
            int tokens = 16 + (i % 10 * 40);
            model.Observe(tokens, 1e-3 + (tokens * 50e-6));
        }

        Assert.Equal(20, model.OverheadTokens, 0.5);
    }

    [Fact]
    public void CallsOfOneSizeTeachTheCostModelNothing()
    {
        var model = new CallCostModel();
        for (int i = 0; i < 200; i++)
        {
            model.Observe(18, 3e-3 + (i % 3 * 1e-4));
        }

        Assert.Equal(CallCostModel.DefaultOverheadTokens, model.OverheadTokens);
    }

    [Fact]
    public void TheCostModelStaysWithinItsBounds()
    {
        var model = new CallCostModel();
        for (int i = 0; i < 200; i++)
        {
            int tokens = 16 + (i % 10 * 40);
            model.Observe(tokens, 1 + (tokens * 1e-9)); // almost all fixed cost
        }

        Assert.Equal(CallCostModel.MaxOverheadTokens, model.OverheadTokens);
    }
}
