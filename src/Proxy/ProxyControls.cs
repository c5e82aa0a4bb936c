using System.Globalization;
using Microsoft.AspNetCore.Http;
using SemCache.Cache;

namespace SemCache.Proxy;

/// <summary>What a caller asks of the cache for one request, from its headers.</summary>
/// <param name="NoCache"><c>cache-control: no-cache</c>: do not look the request up (its answer is still stored).</param>
/// <param name="NoStore"><c>cache-control: no-store</c>: do not store the answer.</param>
/// <param name="MinSimilarity"><c>x-semcache-min-similarity</c>: the similarity a semantic hit needs.</param>
/// <param name="TtlSeconds"><c>x-semcache-ttl</c>: how long the answer is kept, in seconds (0: the store's default).</param>
/// <param name="Namespace"><c>x-semcache-namespace</c>, or null.</param>
internal sealed record ProxyControls(bool NoCache, bool NoStore, float? MinSimilarity, uint TtlSeconds, string? Namespace)
{
    public const string MinSimilarityHeader = "x-semcache-min-similarity";
    public const string TtlHeader = "x-semcache-ttl";
    public const string NamespaceHeader = "x-semcache-namespace";

    /// <summary>Reads the controls; a bad value is a <see cref="ControlException"/> naming the header and the rule.</summary>
    public static ProxyControls Read(IHeaderDictionary headers, TimeSpan maxTtl)
    {
        bool noCache = false, noStore = false;
        foreach (string? value in headers.CacheControl)
        {
            foreach (string directive in (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                noCache |= directive.Equals("no-cache", StringComparison.OrdinalIgnoreCase);
                noStore |= directive.Equals("no-store", StringComparison.OrdinalIgnoreCase);
            }
        }

        float? minSimilarity = null;
        if (Single(headers, MinSimilarityHeader) is string similarity)
        {
            if (!float.TryParse(similarity, NumberStyles.Float, CultureInfo.InvariantCulture, out float parsed) || !float.IsFinite(parsed) || parsed is < -1f or > 1f)
            {
                throw new ControlException(MinSimilarityHeader, $"must be a number between -1 and 1 (cosine similarity), got '{Shorten(similarity)}'");
            }

            minSimilarity = parsed;
        }

        uint ttl = 0;
        if (Single(headers, TtlHeader) is string ttlText)
        {
            if (!uint.TryParse(ttlText, NumberStyles.None, CultureInfo.InvariantCulture, out ttl) || ttl == 0 || ttl > maxTtl.TotalSeconds)
            {
                throw new ControlException(TtlHeader, $"must be a whole number of seconds from 1 to {(long)maxTtl.TotalSeconds} (Storage:MaxTtl), got '{Shorten(ttlText)}'");
            }
        }

        string? ns = null;
        if (Single(headers, NamespaceHeader) is string nsText)
        {
            try
            {
                ns = Partition.CheckNamespace(nsText, NamespaceHeader);
            }
            catch (CacheRequestException e)
            {
                throw new ControlException(NamespaceHeader, e.Reason);
            }
        }

        return new ProxyControls(noCache, noStore, minSimilarity, ttl, ns);
    }

    private static string? Single(IHeaderDictionary headers, string name)
    {
        if (!headers.TryGetValue(name, out Microsoft.Extensions.Primitives.StringValues values) || values.Count == 0)
        {
            return null;
        }

        return values.Count == 1 ? values[0]!.Trim() : throw new ControlException(name, $"is given {values.Count} times; give it once");
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 40), "…");
}

/// <summary>A control header with a bad value: answered 400 in the API's error format.</summary>
internal sealed class ControlException : Exception
{
    public ControlException(string header, string rule)
        : base($"{header} {rule}")
    {
        Header = header;
    }

    public ControlException()
    {
        Header = "";
    }

    public ControlException(string message)
        : base(message)
    {
        Header = "";
    }

    public ControlException(string message, Exception innerException)
        : base(message, innerException)
    {
        Header = "";
    }

    public string Header { get; }
}
