using SemCache.Protocol.V1;

namespace SemCache.LoadTool.Load;

/// <summary>Hit counts of the measured Gets, split by the layer that answered, plus the Sets a workload sent.</summary>
internal sealed class HitTally
{
    private long _gets;
    private long _exactHits;
    private long _semanticHits;
    private long _sets;

    public void Count(GetResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        Interlocked.Increment(ref _gets);
        if (response.Hit)
        {
            Interlocked.Increment(ref response.Matches[0].Exact ? ref _exactHits : ref _semanticHits);
        }
    }

    public void CountSet() => Interlocked.Increment(ref _sets);

    public HitReport ToReport()
    {
        long misses = _gets - _exactHits - _semanticHits;
        double Rate(long n) => _gets == 0 ? 0 : Math.Round((double)n / _gets, 4);
        return new HitReport(_gets, _exactHits, _semanticHits, misses, _sets, Rate(_exactHits + _semanticHits), Rate(_exactHits), Rate(_semanticHits));
    }
}

/// <summary>Gets and how they were answered.</summary>
internal sealed record HitReport(long Gets, long ExactHits, long SemanticHits, long Misses, long Sets, double HitRate, double ExactHitRate, double SemanticHitRate);
