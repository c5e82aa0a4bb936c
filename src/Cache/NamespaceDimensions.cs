using System.Collections.Concurrent;
using System.Text.Json;

namespace SemCache.Cache;

/// <summary>
/// The vector dimension of each namespace, fixed by its first vector. Kept in a small file in the data directory,
/// written (temp file, flush, rename) before the Set that introduces a namespace is acknowledged, so a restart never
/// forgets which dimension a namespace's vectors have.
/// </summary>
internal sealed class NamespaceDimensions
{
    private readonly ConcurrentDictionary<string, int> _dimensions = new(StringComparer.Ordinal);
    private readonly string? _path;
    private readonly Lock _writeLock = new();

    public NamespaceDimensions(string? path)
    {
        _path = path;
        if (path is not null && File.Exists(path))
        {
            try
            {
                Dictionary<string, int>? stored = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(path));
                foreach ((string ns, int dimension) in stored ?? [])
                {
                    _dimensions[ns] = dimension;
                }
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"The namespace file '{path}' is damaged ({e.Message}). Delete it: each namespace then takes the dimension of its next vector again.", e);
            }
        }
    }

    public bool TryGet(string ns, out int dimension) => _dimensions.TryGetValue(ns, out dimension);

    /// <summary>The namespace's dimension: <paramref name="dimension"/> if this is its first vector, else the one it has.</summary>
    public int GetOrAdd(string ns, int dimension)
    {
        if (_dimensions.TryGetValue(ns, out int existing))
        {
            return existing;
        }

        lock (_writeLock)
        {
            if (_dimensions.TryGetValue(ns, out existing))
            {
                return existing;
            }

            _dimensions[ns] = dimension;
            Persist();
            return dimension;
        }
    }

    /// <summary>Learns a dimension found in the store at recovery (the file may predate it after a crash).</summary>
    public void Learn(string ns, int dimension)
    {
        lock (_writeLock)
        {
            if (_dimensions.TryAdd(ns, dimension))
            {
                Persist();
            }
        }
    }

    public void Remove(string ns)
    {
        lock (_writeLock)
        {
            if (_dimensions.TryRemove(ns, out _))
            {
                Persist();
            }
        }
    }

    private void Persist()
    {
        if (_path is null)
        {
            return;
        }

        string temp = _path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, new SortedDictionary<string, int>(_dimensions, StringComparer.Ordinal));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, _path, overwrite: true);
    }
}
