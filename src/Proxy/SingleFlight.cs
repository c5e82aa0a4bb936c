using System.Collections.Concurrent;

namespace SemCache.Proxy;

/// <summary>
/// Concurrent identical misses share one provider call: the first request leads (calls the provider), the others wait
/// for its answer. A flight is removed when its leader ends, so a later identical request is a cache hit, not a shared
/// call; a leader that ends without an answer (an error, a cut stream) releases its followers with null, and they call
/// the provider themselves.
/// </summary>
internal sealed class SingleFlight
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<StoredAnswer?>> _flights = new(StringComparer.Ordinal);

    /// <summary>Joins the flight of <paramref name="key"/>; true when this request leads it (and must <see cref="Land"/> it).</summary>
    public bool Join(string key, out TaskCompletionSource<StoredAnswer?> flight)
    {
        var mine = new TaskCompletionSource<StoredAnswer?>(TaskCreationOptions.RunContinuationsAsynchronously);
        flight = _flights.GetOrAdd(key, mine);
        return ReferenceEquals(flight, mine);
    }

    /// <summary>Ends a led flight with its answer, or null when there is none to share.</summary>
    public void Land(string key, TaskCompletionSource<StoredAnswer?> flight, StoredAnswer? answer)
    {
        _flights.TryRemove(KeyValuePair.Create(key, flight));
        flight.TrySetResult(answer);
    }

    /// <summary>Flights in progress.</summary>
    public int Count => _flights.Count;
}
