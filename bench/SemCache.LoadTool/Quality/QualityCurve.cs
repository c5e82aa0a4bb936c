namespace SemCache.LoadTool.Quality;

/// <summary>
/// What one labelled query returned when asked for its nearest entry with no threshold (min_similarity -1, top_k 1):
/// enough to decide offline whether it would be a correct hit, a wrong hit or a miss at any threshold.
/// </summary>
/// <param name="Similarity">Cosine similarity of the nearest entry; null when the server compared nothing.</param>
/// <param name="MatchedExpected">The nearest entry is this row's own first text (q1).</param>
/// <param name="IsDuplicate">The row is labelled a duplicate (label 1): only then can a hit be correct.</param>
/// <param name="MatchedIdenticalText">
/// The nearest entry is not the row's q1 but was stored with exactly the query's text (another row's q1: QQP repeats
/// questions). The protocol counts such a hit as wrong; reports say how many of the wrong hits are of this kind.
/// </param>
internal readonly record struct ScoredQuery(float? Similarity, bool MatchedExpected, bool IsDuplicate, bool MatchedIdenticalText = false)
{
    /// <summary>The server answers a hit when the similarity reaches min_similarity (similarity &gt;= threshold).</summary>
    public bool IsHitAt(float threshold) => Similarity is float s && s >= threshold;

    public bool IsCorrectHit => IsDuplicate && MatchedExpected;
}

/// <summary>
/// Correct hits, wrong hits and misses over a set of labelled queries. A hit is correct only when the row is a
/// labelled duplicate and the entry hit is that row's own q1; every other hit is wrong (so an unlabelled duplicate in
/// the data counts against the cache: precision here is a lower bound).
/// </summary>
internal sealed record QualityCounts(int Queries, int Duplicates, int Correct, int Wrong)
{
    public int Hits => Correct + Wrong;

    public int Misses => Queries - Hits;

    /// <summary>correct / (correct + wrong); 1 when there is no hit at all (nothing answered, nothing wrong).</summary>
    public double Precision => Hits == 0 ? 1.0 : (double)Correct / Hits;

    /// <summary>correct / labelled duplicates; 0 when there are none.</summary>
    public double Recall => Duplicates == 0 ? 0.0 : (double)Correct / Duplicates;

    public double F1 => Precision + Recall == 0 ? 0.0 : 2 * Precision * Recall / (Precision + Recall);
}

/// <summary>The counts a threshold gives.</summary>
internal sealed record CurvePoint(float Threshold, QualityCounts Counts);

/// <summary>
/// Precision, recall and F1 against the threshold, from one pass of nearest-entry lookups: because the server's hit
/// rule is "similarity &gt;= min_similarity", every threshold's outcome follows from the recorded similarities without
/// asking the server again.
/// </summary>
internal static class QualityCurve
{
    public static QualityCounts CountsAt(IReadOnlyCollection<ScoredQuery> queries, float threshold)
    {
        ArgumentNullException.ThrowIfNull(queries);
        int duplicates = 0, correct = 0, wrong = 0;
        foreach (ScoredQuery query in queries)
        {
            duplicates += query.IsDuplicate ? 1 : 0;
            if (query.IsHitAt(threshold))
            {
                if (query.IsCorrectHit)
                {
                    correct++;
                }
                else
                {
                    wrong++;
                }
            }
        }

        return new QualityCounts(queries.Count, duplicates, correct, wrong);
    }

    /// <summary>
    /// One point per distinct similarity, highest threshold first: the point's threshold is that similarity, and its
    /// counts are those of every query at or above it. Every threshold between two points behaves as the lower point's
    /// upper neighbour, so these points are the whole curve.
    /// </summary>
    public static IReadOnlyList<CurvePoint> Sweep(IReadOnlyCollection<ScoredQuery> queries)
    {
        ArgumentNullException.ThrowIfNull(queries);
        int duplicates = queries.Count(q => q.IsDuplicate);
        ScoredQuery[] scored = [.. queries.Where(q => q.Similarity is not null).OrderByDescending(q => q.Similarity!.Value)];
        var points = new List<CurvePoint>();
        int correct = 0, wrong = 0;
        for (int i = 0; i < scored.Length; i++)
        {
            if (scored[i].IsCorrectHit)
            {
                correct++;
            }
            else
            {
                wrong++;
            }

            // Queries with the same similarity become hits together: emit once the group is complete.
            float similarity = scored[i].Similarity!.Value;
            if (i + 1 == scored.Length || scored[i + 1].Similarity!.Value != similarity)
            {
                points.Add(new CurvePoint(similarity, new QualityCounts(queries.Count, duplicates, correct, wrong)));
            }
        }

        return points;
    }

    /// <summary>Counts on an even grid of thresholds (for tables and charts), from <paramref name="from"/> up to 1.</summary>
    public static IReadOnlyList<CurvePoint> Grid(IReadOnlyCollection<ScoredQuery> queries, float from, float step)
    {
        var points = new List<CurvePoint>();
        int steps = (int)Math.Round((1.0 - from) / step);
        for (int i = 0; i <= steps; i++)
        {
            float threshold = (float)Math.Round(from + (i * step), 4);
            points.Add(new CurvePoint(threshold, CountsAt(queries, threshold)));
        }

        return points;
    }

    /// <summary>
    /// The threshold that reaches <paramref name="targetPrecision"/> with the most recall, i.e. the lowest threshold
    /// whose precision is at least the target; null when no threshold reaches it. Picking by recall rather than by
    /// "first threshold from the top" avoids a high threshold that is precise only because it answers one or two
    /// queries, and <paramref name="minRecall"/> rules such thresholds out altogether: a threshold that answers almost
    /// nothing is no answer to "which threshold should I use?".
    /// </summary>
    public static CurvePoint? ForTargetPrecision(IReadOnlyList<CurvePoint> curve, double targetPrecision, double minRecall = 0)
    {
        ArgumentNullException.ThrowIfNull(curve);
        CurvePoint? best = null;
        foreach (CurvePoint point in curve)
        {
            if (point.Counts.Hits > 0 && point.Counts.Recall >= minRecall && point.Counts.Precision >= targetPrecision && (best is null || point.Counts.Recall > best.Counts.Recall))
            {
                best = point;
            }
        }

        return best;
    }

    /// <summary>The most precise threshold that still has <paramref name="minRecall"/> (the most recall on a tie); null when none has.</summary>
    public static CurvePoint? MostPrecise(IReadOnlyList<CurvePoint> curve, double minRecall)
    {
        ArgumentNullException.ThrowIfNull(curve);
        CurvePoint? best = null;
        foreach (CurvePoint point in curve)
        {
            if (point.Counts.Hits > 0 && point.Counts.Recall >= minRecall
                && (best is null || point.Counts.Precision > best.Counts.Precision || (point.Counts.Precision == best.Counts.Precision && point.Counts.Recall > best.Counts.Recall)))
            {
                best = point;
            }
        }

        return best;
    }

    /// <summary>The threshold with the highest F1 (the higher threshold on a tie); null for an empty curve.</summary>
    public static CurvePoint? BestF1(IReadOnlyList<CurvePoint> curve)
    {
        ArgumentNullException.ThrowIfNull(curve);
        CurvePoint? best = null;
        foreach (CurvePoint point in curve.OrderByDescending(p => p.Threshold))
        {
            if (best is null || point.Counts.F1 > best.Counts.F1)
            {
                best = point;
            }
        }

        return best;
    }

    /// <summary>
    /// For comparing with another cache at equal wrong-hit counts: the threshold that gives the most correct hits while
    /// making at most <paramref name="maxWrongHits"/> wrong ones (fewer wrong hits, then the higher threshold, on a tie).
    /// Null when even the highest threshold makes more wrong hits than that.
    /// </summary>
    public static CurvePoint? AtMostWrongHits(IReadOnlyList<CurvePoint> curve, int maxWrongHits)
    {
        ArgumentNullException.ThrowIfNull(curve);
        CurvePoint? best = null;
        foreach (CurvePoint point in curve.OrderByDescending(p => p.Threshold))
        {
            if (point.Counts.Wrong > maxWrongHits)
            {
                continue;
            }

            if (best is null
                || point.Counts.Correct > best.Counts.Correct
                || (point.Counts.Correct == best.Counts.Correct && point.Counts.Wrong < best.Counts.Wrong))
            {
                best = point;
            }
        }

        return best;
    }
}
