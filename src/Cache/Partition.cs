using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using SemCache.Storage;

namespace SemCache.Cache;

/// <summary>One message of a chat conversation.</summary>
/// <param name="Role">Its author's role: <c>system</c>, <c>user</c>, <c>assistant</c>, <c>tool</c>, …</param>
/// <param name="Content">Its text.</param>
public readonly record struct ChatMessage(string Role, string Content);

/// <summary>
/// Where an entry lives and the only place it can be found: a namespace, an exact attribute map and a conversation
/// context. Two requests share a partition only if all three are equal.
/// </summary>
public sealed class Partition
{
    /// <summary>The namespace used when a request leaves it empty.</summary>
    public const string DefaultNamespace = "default";

    private Partition(string ns, KeyValuePair<string, string>[] attributes, byte[] context)
    {
        Namespace = ns;
        Attributes = attributes;
        ContextFingerprint = context;
        Key = ComputeKey(ns, attributes, context);
    }

    /// <summary>The namespace.</summary>
    public string Namespace { get; }

    /// <summary>The attributes, sorted by key (ordinal).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Attributes { get; }

    /// <summary>SHA-256 (first 16 bytes) of the conversation before the matched message; empty without a conversation.</summary>
    public ReadOnlyMemory<byte> ContextFingerprint { get; }

    /// <summary>
    /// The partition's key: the first 64 bits of SHA-256 over namespace, attributes and context. The store keeps it as a
    /// <see cref="ulong"/>; the index's 128-bit <c>PartitionKey</c> carries it in its low half (the high half is zero).
    /// 64 bits make an accidental collision between two partitions of one cache vanishingly rare, and harmless: every
    /// candidate is checked against the full partition (<see cref="Matches"/>) before it is returned.
    /// </summary>
    public ulong Key { get; }

    /// <summary>
    /// Checks a namespace by the rules every request's namespace follows (1 to 64 characters from
    /// <c>[A-Za-z0-9._-]</c>; empty means <see cref="DefaultNamespace"/>), for front doors that take it from elsewhere.
    /// </summary>
    /// <param name="ns">The namespace.</param>
    /// <param name="field">What the caller calls it (named in the error).</param>
    /// <returns>The namespace, or <see cref="DefaultNamespace"/> for an empty one.</returns>
    /// <exception cref="CacheRequestException">It breaks the rules.</exception>
    public static string CheckNamespace(string? ns, string field) => Requests.RequestValidator.Namespace(ns, field);

    /// <summary>Builds a partition from already validated parts.</summary>
    /// <param name="ns">A valid namespace (empty means <see cref="DefaultNamespace"/>).</param>
    /// <param name="attributes">The attribute map in any order.</param>
    /// <param name="context">The messages before the matched one (empty for a plain prompt).</param>
    public static Partition Create(string ns, IEnumerable<KeyValuePair<string, string>> attributes, ReadOnlySpan<ChatMessage> context)
    {
        ArgumentNullException.ThrowIfNull(attributes);
        KeyValuePair<string, string>[] sorted = [.. attributes];
        Array.Sort(sorted, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return new Partition(string.IsNullOrEmpty(ns) ? DefaultNamespace : ns, sorted, Fingerprint(context));
    }

    /// <summary>
    /// True when <paramref name="entry"/> belongs to this partition. Checked on every hit, so that even a collision of
    /// the 64-bit key could never serve one partition's entry to another.
    /// </summary>
    public bool Matches(CacheEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (!string.Equals(entry.Namespace, Namespace, StringComparison.Ordinal)
            || !entry.ContextFingerprint.Span.SequenceEqual(ContextFingerprint.Span)
            || entry.Attributes.Count != Attributes.Count)
        {
            return false;
        }

        for (int i = 0; i < Attributes.Count; i++)
        {
            if (!string.Equals(entry.Attributes[i].Key, Attributes[i].Key, StringComparison.Ordinal)
                || !string.Equals(entry.Attributes[i].Value, Attributes[i].Value, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    // Roles are kept as given; contents are compared in the prompt's normal form, so whitespace noise in an earlier
    // turn does not split a conversation. Every field is length-prefixed, so no two different conversations encode alike.
    private static byte[] Fingerprint(ReadOnlySpan<ChatMessage> context)
    {
        if (context.IsEmpty)
        {
            return [];
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (ChatMessage message in context)
        {
            AppendField(hash, message.Role);
            AppendField(hash, PromptText.Normalize(message.Content));
        }

        Span<byte> digest = stackalloc byte[32];
        hash.GetHashAndReset(digest);
        return digest[..16].ToArray();
    }

    private static ulong ComputeKey(string ns, KeyValuePair<string, string>[] attributes, byte[] context)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        AppendField(hash, ns);
        Span<byte> count = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(count, attributes.Length);
        hash.AppendData(count);
        foreach ((string key, string value) in attributes)
        {
            AppendField(hash, key);
            AppendField(hash, value);
        }

        BinaryPrimitives.WriteInt32LittleEndian(count, context.Length);
        hash.AppendData(count);
        hash.AppendData(context);
        Span<byte> digest = stackalloc byte[32];
        hash.GetHashAndReset(digest);
        return BinaryPrimitives.ReadUInt64LittleEndian(digest);
    }

    private static void AppendField(IncrementalHash hash, string text)
    {
        int max = Encoding.UTF8.GetMaxByteCount(text.Length);
        byte[]? rented = max > 512 ? ArrayPool<byte>.Shared.Rent(max) : null;
        Span<byte> buffer = rented ?? stackalloc byte[512];
        try
        {
            int length = Encoding.UTF8.GetBytes(text, buffer);
            Span<byte> prefix = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(prefix, length);
            hash.AppendData(prefix);
            hash.AppendData(buffer[..length]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
