using SemCache.LoadTool.Load;

namespace SemCache.LoadTool.SideBySide;

/// <summary>How one fixed-rate step of the mixed load went.</summary>
internal enum StepVerdict
{
    /// <summary>The rate was kept up and Get p99 stayed within <see cref="KneeSearch.TailBound"/> × p50.</summary>
    Within,

    /// <summary>Get p99 went past the bound: queueing has begun.</summary>
    TailTooLong,

    /// <summary>Fewer requests finished than the schedule sent: the server (or the client) could not keep up.</summary>
    NotSustained,

    /// <summary>Requests failed.</summary>
    Errors,
}

/// <summary>One step: the rate asked for and what came of it. Latencies are from each request's intended send time.</summary>
/// <param name="TargetRate">Requests per second the schedule sent.</param>
/// <param name="AchievedRate">Requests completed per second of the schedule (step length), so a server that falls behind shows here.</param>
/// <param name="Requests">Requests completed.</param>
/// <param name="Errors">Requests failed.</param>
/// <param name="Get">Get latencies.</param>
/// <param name="Set">Set latencies.</param>
/// <param name="SendLag">How late requests left against the schedule (part of the latencies).</param>
internal sealed record KneeStep(double TargetRate, double AchievedRate, long Requests, long Errors, LatencySummary Get, LatencySummary Set, LatencySummary? SendLag)
{
    /// <summary>Get p99 / p50; 0 when no Get was recorded.</summary>
    public double GetTailRatio => Get.P50Us > 0 ? (double)Get.P99Us / Get.P50Us : 0;
}

/// <summary>
/// The knee of the mixed load: fixed rates (open loop) stepping up from a fraction of the closed-loop capacity until a
/// step's Get p99 exceeds <see cref="TailBound"/> × its p50, the rate is not sustained, or requests fail. The knee is
/// the highest rate before the first such step: above it, users wait in a queue.
/// </summary>
internal static class KneeSearch
{
    /// <summary>Get p99 may be at most this many times p50 (the criterion).</summary>
    public const double TailBound = 3.0;

    /// <summary>A step is sustained when at least this fraction of its target rate completed.</summary>
    public const double SustainedFraction = 0.9;

    /// <summary>The steps, as fractions of the capacity measured closed-loop with the same clients.</summary>
    public static IReadOnlyList<double> CapacityFractions { get; } = [0.25, 0.4, 0.55, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25];

    public static double[] Rates(double capacityPerSecond, int maxSteps)
    {
        if (capacityPerSecond <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(capacityPerSecond), "the capacity must be positive");
        }

        return [.. CapacityFractions.Take(Math.Max(1, maxSteps)).Select(f => Math.Max(1, Math.Round(f * capacityPerSecond)))];
    }

    public static StepVerdict Judge(KneeStep step)
    {
        ArgumentNullException.ThrowIfNull(step);
        if (step.Errors > 0)
        {
            return StepVerdict.Errors;
        }

        if (step.AchievedRate < SustainedFraction * step.TargetRate)
        {
            return StepVerdict.NotSustained;
        }

        return step.Get.Count > 0 && step.GetTailRatio <= TailBound ? StepVerdict.Within : StepVerdict.TailTooLong;
    }

    /// <summary>
    /// The highest rate judged <see cref="StepVerdict.Within"/>; null when none was. A step past the tail bound alone
    /// does not end the search (one stall of a shared machine can do that), so a higher step may still pass; the
    /// search ends at the first step not sustained or with errors, or at two steps past the bound in a row.
    /// </summary>
    public static KneeStep? Knee(IReadOnlyList<KneeStep> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        KneeStep? knee = null;
        foreach (KneeStep step in steps)
        {
            if (Judge(step) == StepVerdict.Within && (knee is null || step.TargetRate > knee.TargetRate))
            {
                knee = step;
            }
        }

        return knee;
    }

    /// <summary>Whether to run another step after <paramref name="steps"/>: see <see cref="Knee"/>.</summary>
    public static bool ShouldContinue(IReadOnlyList<KneeStep> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        if (steps.Count == 0)
        {
            return true;
        }

        StepVerdict last = Judge(steps[^1]);
        return last switch
        {
            StepVerdict.Within => true,
            StepVerdict.TailTooLong => steps.Count < 2 || Judge(steps[^2]) == StepVerdict.Within,
            _ => false,
        };
    }

    /// <summary>The mixed load's operation for a sequence number: 3 of every 10 are Sets (30 %), spread evenly.</summary>
    public static bool IsSet(long sequence) => (sequence % 10) is 2 or 5 or 8;
}
