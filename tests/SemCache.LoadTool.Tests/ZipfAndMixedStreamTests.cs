using SemCache.LoadTool.Data;
using SemCache.LoadTool.Workloads;

namespace SemCache.LoadTool.Tests;

public sealed class ZipfAndMixedStreamTests
{
    [Fact]
    public void ZipfProbabilitiesFollowOneOverRank()
    {
        var zipf = new ZipfGenerator(4, 1.0, new Random(1));
        double harmonic = 1 + (1 / 2.0) + (1 / 3.0) + (1 / 4.0);

        for (int rank = 0; rank < 4; rank++)
        {
            Assert.Equal(1.0 / (rank + 1) / harmonic, zipf.Probability(rank), 12);
        }

        Assert.Equal(1.0, Enumerable.Range(0, 4).Sum(zipf.Probability), 12);
    }

    [Fact]
    public void ZipfExponentZeroIsUniform()
    {
        var zipf = new ZipfGenerator(5, 0, new Random(1));

        Assert.All(Enumerable.Range(0, 5), rank => Assert.Equal(0.2, zipf.Probability(rank), 12));
    }

    [Fact]
    public void ZipfDrawsMatchTheDistributionAndStayInRange()
    {
        var zipf = new ZipfGenerator(100, 1.1, new Random(7));
        var counts = new int[100];
        const int draws = 200_000;
        for (int i = 0; i < draws; i++)
        {
            counts[zipf.Next()]++;
        }

        // 200,000 draws: the standard error of rank 0's share (~0.19) is under 0.001; 0.01 is a wide margin.
        Assert.Equal(zipf.Probability(0), counts[0] / (double)draws, 0.01);
        Assert.Equal(zipf.Probability(9), counts[9] / (double)draws, 0.01);
        Assert.True(counts[0] > counts[1] && counts[1] > counts[10] && counts[10] > counts[99]);
    }

    [Fact]
    public void ZipfIsDeterministicForASeed()
    {
        int[] First() { var z = new ZipfGenerator(50, 1, new Random(3)); return [.. Enumerable.Range(0, 20).Select(_ => z.Next())]; }

        Assert.Equal(First(), First());
    }

    [Fact]
    public void StreamMixesKindsInTheAskedProportions()
    {
        Intent[] intents = [.. Enumerable.Range(0, 20).Select(i => new Intent($"question {i}", $"reworded question {i}"))];
        string[] fresh = [.. Enumerable.Range(0, 10_000).Select(i => $"new {i}")];
        var stream = new MixedStream(intents, fresh, 1.0, newFraction: 0.25, paraphraseFraction: 0.4, seed: 5);
        MixedRequest[] requests = [.. Enumerable.Range(0, 8000).Select(_ => stream.Next())];

        double newShare = requests.Count(r => r.Kind == MixedKind.New) / (double)requests.Length;
        double paraphraseShare = requests.Count(r => r.Kind == MixedKind.Paraphrase) / (double)requests.Count(r => r.Kind != MixedKind.New);
        Assert.Equal(0.25, newShare, 0.03);
        Assert.Equal(0.4, paraphraseShare, 0.03);
        // Intents are drawn by Zipf popularity (exponent 1 over 20: the first is asked 28% of the time), not uniformly (5%).
        MixedRequest[] asked = [.. requests.Where(r => r.Kind != MixedKind.New)];
        Assert.Equal(new ZipfGenerator(20, 1.0, new Random(1)).Probability(0), asked.Count(r => r.Intent == 0) / (double)asked.Length, 0.03);
        Assert.True(asked.Count(r => r.Intent == 0) > asked.Count(r => r.Intent == 19) * 5);
        Assert.All(requests.Where(r => r.Kind == MixedKind.Repeat), r => Assert.Equal(intents[r.Intent].Phrasing, r.Prompt));
        Assert.All(requests.Where(r => r.Kind == MixedKind.Paraphrase), r => Assert.Equal(intents[r.Intent].Paraphrase, r.Prompt));
        Assert.Equal(requests.Count(r => r.Kind == MixedKind.New), requests.Where(r => r.Kind == MixedKind.New).Select(r => r.Prompt).Distinct().Count());
        Assert.False(stream.NewPromptsWrapped);
    }

    [Fact]
    public void StreamSaysWhenNewPromptsRunOut()
    {
        var stream = new MixedStream([new Intent("a", "b")], ["only one"], 1.0, newFraction: 1.0, paraphraseFraction: 0, seed: 1);
        stream.Next();
        Assert.False(stream.NewPromptsWrapped);
        stream.Next();
        Assert.True(stream.NewPromptsWrapped);
    }

    [Fact]
    public void IntentsComeFromDuplicatesAndNewPromptsFromTheRest()
    {
        LabelledPair[] pairs =
        [
            new(1, "How do I learn C#?", "What is the best way to learn C#?", 2),
            new(1, "How  do I learn C#?", "Where can I learn C#?", 3),     // same q1 once normalised: not a second intent
            new(1, "Same text", "Same text", 4),                            // no rewording to test
            new(0, "What is F#?", "How do I learn C#?", 5),                // q2 is an intent's text: not new
            new(0, "Is Rust fast?", "Is Go fast?", 6),
            new(0, "Is Java fast?", "Is  Go fast?", 7),                    // the same new prompt once normalised: kept once
        ];

        (List<Intent> intents, List<string> newPrompts) = MixedStream.FromPairs(pairs);

        Assert.Equal([new Intent("How do I learn C#?", "What is the best way to learn C#?")], intents);
        Assert.Equal(["Is Go fast?"], newPrompts);
    }
}
