using SemCache.LoadTool.Quality;

namespace SemCache.LoadTool.Tests;

public sealed class QualityCurveTests
{
    // Ten labelled lookups: (nearest similarity, nearest is the row's own q1, row is a duplicate).
    private static readonly ScoredQuery[] Queries =
    [
        new(0.99f, true, true),   // correct from 0.99 down
        new(0.97f, true, true),
        new(0.95f, false, true),  // duplicate, but the nearest entry is another one: wrong
        new(0.93f, true, false),  // not a duplicate: any hit is wrong
        new(0.90f, true, true),
        new(0.90f, true, true),   // tie with the previous: both become hits together
        new(0.85f, false, false),
        new(0.80f, true, true),
        new(0.70f, true, false),
        new(null, false, true),   // nothing compared: never a hit
    ];

    [Fact]
    public void CountsAtAThreshold()
    {
        QualityCounts counts = QualityCurve.CountsAt(Queries, 0.9f);

        Assert.Equal(10, counts.Queries);
        Assert.Equal(7, counts.Duplicates);
        Assert.Equal(4, counts.Correct);
        Assert.Equal(2, counts.Wrong);
        Assert.Equal(4, counts.Misses);
        Assert.Equal(4.0 / 6, counts.Precision, 12);
        Assert.Equal(4.0 / 7, counts.Recall, 12);
        Assert.Equal(8.0 / 13, counts.F1, 12); // 2·correct / (2·correct + wrong + missed duplicates)
    }

    [Fact]
    public void NoHitsMeansPerfectPrecisionAndNoRecall()
    {
        QualityCounts counts = QualityCurve.CountsAt(Queries, 1.0f);

        Assert.Equal(0, counts.Hits);
        Assert.Equal(1.0, counts.Precision);
        Assert.Equal(0.0, counts.Recall);
        Assert.Equal(0.0, counts.F1);
    }

    [Fact]
    public void SweepHasOnePointPerDistinctSimilarityAndAgreesWithCountsAt()
    {
        IReadOnlyList<CurvePoint> curve = QualityCurve.Sweep(Queries);

        Assert.Equal([0.99f, 0.97f, 0.95f, 0.93f, 0.90f, 0.85f, 0.80f, 0.70f], curve.Select(p => p.Threshold));
        foreach (CurvePoint point in curve)
        {
            Assert.Equal(QualityCurve.CountsAt(Queries, point.Threshold), point.Counts);
        }
    }

    [Fact]
    public void TargetPrecisionPicksTheThresholdWithTheMostRecall()
    {
        IReadOnlyList<CurvePoint> curve = QualityCurve.Sweep(Queries);

        // Precision: 0.99 → 1, 0.97 → 1, 0.95 → 2/3, 0.93 → 1/2, 0.90 → 4/6, 0.85 → 4/7, 0.80 → 5/8, 0.70 → 5/9.
        Assert.Equal(0.97f, QualityCurve.ForTargetPrecision(curve, 0.95)!.Threshold);
        Assert.Equal(0.80f, QualityCurve.ForTargetPrecision(curve, 0.6)!.Threshold);
        Assert.Null(QualityCurve.ForTargetPrecision(QualityCurve.Sweep([new ScoredQuery(0.9f, false, false)]), 0.5));
    }

    [Fact]
    public void MinimumRecallRulesOutThresholdsThatAnswerAlmostNothing()
    {
        IReadOnlyList<CurvePoint> curve = QualityCurve.Sweep(Queries);

        // Only 0.99 and 0.97 reach precision 0.95, with recall 1/7 and 2/7: asking for 0.3 recall leaves none.
        Assert.Null(QualityCurve.ForTargetPrecision(curve, 0.95, minRecall: 0.3));
        Assert.Equal(0.97f, QualityCurve.ForTargetPrecision(curve, 0.95, minRecall: 0.2)!.Threshold);

        // What the data allows instead: the most precise threshold with recall ≥ 0.3 (0.95 has too little recall; 0.90 has 2/3).
        Assert.Equal(0.90f, QualityCurve.MostPrecise(curve, 0.3)!.Threshold);
        Assert.Null(QualityCurve.MostPrecise(curve, 0.9));
    }

    [Fact]
    public void BestF1()
    {
        // F1 at 0.80: precision 5/8, recall 5/7 → 2/3, the highest on this curve.
        Assert.Equal(0.80f, QualityCurve.BestF1(QualityCurve.Sweep(Queries))!.Threshold);
        Assert.Null(QualityCurve.BestF1([]));
    }

    [Fact]
    public void TiesGoToTheHigherThresholdForF1AndToMoreRecallForPrecision()
    {
        // 0.9: one correct hit, F1 = 2·1·(1/2) / 1.5 = 2/3. 0.8: adds one wrong and one correct, precision 2/3,
        // recall 1, F1 = 2·(2/3)·1 / (5/3) = 4/5. 0.7: adds one wrong: precision 1/2, recall 1, F1 = 2/3 again.
        ScoredQuery[] f1Tie = [new(0.9f, true, true), new(0.8f, false, false), new(0.8f, true, true), new(0.7f, false, false)];
        IReadOnlyList<CurvePoint> curve = QualityCurve.Sweep(f1Tie);
        Assert.Equal(0.8f, QualityCurve.BestF1(curve)!.Threshold);
        IReadOnlyList<CurvePoint> withoutTheBest = [.. curve.Where(p => p.Threshold != 0.8f)];
        Assert.Equal(withoutTheBest[0].Counts.F1, withoutTheBest[1].Counts.F1); // 0.9 and 0.7 tie exactly
        Assert.Equal(0.9f, QualityCurve.BestF1(withoutTheBest)!.Threshold);
        Assert.Equal(0.9f, QualityCurve.BestF1([.. withoutTheBest.Reverse()])!.Threshold);

        // Precision 1 at 0.9 (recall 1/2) and at 0.8 (recall 1): the most precise with more recall is 0.8.
        ScoredQuery[] precisionTie = [new(0.9f, true, true), new(0.8f, true, true), new(0.7f, false, false)];
        Assert.Equal(0.8f, QualityCurve.MostPrecise(QualityCurve.Sweep(precisionTie), 0)!.Threshold);
        Assert.Equal(0.8f, QualityCurve.MostPrecise([.. QualityCurve.Sweep(precisionTie).Reverse()], 0)!.Threshold);
    }

    [Fact]
    public void EqualWrongHitsTakesTheMostCorrectHitsWithinTheWrongBudget()
    {
        IReadOnlyList<CurvePoint> curve = QualityCurve.Sweep(Queries);

        // Wrong hits by threshold: 0.99 → 0, 0.97 → 0, 0.95 → 1, 0.93 → 2, 0.90 → 2, 0.85 → 3, 0.80 → 3, 0.70 → 4.
        Assert.Equal(0.97f, QualityCurve.AtMostWrongHits(curve, 0)!.Threshold);
        Assert.Equal(0.90f, QualityCurve.AtMostWrongHits(curve, 2)!.Threshold);
        CurvePoint three = QualityCurve.AtMostWrongHits(curve, 3)!;
        Assert.Equal(0.80f, three.Threshold);
        Assert.Equal(5, three.Counts.Correct);
        Assert.Equal(0.80f, QualityCurve.AtMostWrongHits(curve, 100)!.Threshold); // 0.70 adds a wrong hit and no correct one
    }

    [Fact]
    public void EqualWrongHitsWhenTheCurveJumpsPastTheBudget()
    {
        // Two wrong hits arrive together at 0.8: a budget of one wrong hit stops above them.
        ScoredQuery[] queries = [new(0.95f, true, true), new(0.8f, false, false), new(0.8f, false, true), new(0.7f, true, true)];
        CurvePoint point = QualityCurve.AtMostWrongHits(QualityCurve.Sweep(queries), 1)!;

        Assert.Equal(0.95f, point.Threshold);
        Assert.Equal(0, point.Counts.Wrong);
        Assert.Null(QualityCurve.AtMostWrongHits(QualityCurve.Sweep([new ScoredQuery(0.9f, false, false)]), 0));
    }

    [Fact]
    public void GridRunsFromTheLowerBoundToOne()
    {
        IReadOnlyList<CurvePoint> grid = QualityCurve.Grid(Queries, 0.5f, 0.1f);

        Assert.Equal([0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f], grid.Select(p => p.Threshold));
        Assert.Equal(QualityCurve.CountsAt(Queries, 0.8f), grid[3].Counts);
    }
}
