using System.Buffers;

namespace SemCache.Storage;

/// <summary>A small growable list of removals that allocates nothing for the common case of one.</summary>
internal struct RemovedBuffer : IDisposable
{
    private RemovedEntry _first;
    private RemovedEntry[]? _more;

    public int Count { get; private set; }

    public void Add(RemovedEntry entry)
    {
        if (Count == 0 && _more is null)
        {
            _first = entry;
        }
        else
        {
            if (_more is null)
            {
                _more = ArrayPool<RemovedEntry>.Shared.Rent(16);
                _more[0] = _first;
            }
            else if (Count == _more.Length)
            {
                var bigger = ArrayPool<RemovedEntry>.Shared.Rent(Count * 2);
                _more.AsSpan(0, Count).CopyTo(bigger);
                ArrayPool<RemovedEntry>.Shared.Return(_more);
                _more = bigger;
            }

            _more[Count] = entry;
        }

        Count++;
    }

    public readonly RemovedEntry First => _first;

    /// <summary>The removals when there are several (null when there is at most one: use <see cref="First"/>).</summary>
    public readonly RemovedEntry[]? Many => _more;

    public readonly void CopyTo(List<RemovedEntry> entries)
    {
        if (_more is not null)
        {
            for (var i = 0; i < Count; i++)
            {
                entries.Add(_more[i]);
            }
        }
        else if (Count == 1)
        {
            entries.Add(_first);
        }
    }

    public void Dispose()
    {
        if (_more is not null)
        {
            ArrayPool<RemovedEntry>.Shared.Return(_more);
            _more = null;
        }

        Count = 0;
    }
}
