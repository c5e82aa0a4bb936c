using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using SemCache.Storage;

namespace SemCache.Cache.Requests;

/// <summary>
/// The one place requests are checked against the contract and the configured limits. Each method returns a fully
/// checked request (namespace resolved, prompt normalised, partition and exact key built) or throws a
/// <see cref="CacheRequestException"/> naming the field, the rule and the limit; nothing has been read or written then.
/// Checks that depend on the cache's state (a namespace's vector dimension) are the semantic index's.
/// </summary>
internal sealed class RequestValidator(CacheOptions options, TimeSpan maxTtl)
{
    private const int MaxUsageModelChars = 256;
    private const int MaxCachedNamespaceHashes = 4096;

    // The store's namespace hash is a SHA-256 (~0.4 µs, a fifth of an exact hit): kept for the namespaces in use. Bounded:
    // past the limit (made-up names) the cache starts over.
    private readonly ConcurrentDictionary<string, ulong> _namespaceHashes = new(StringComparer.Ordinal);
    private static readonly SearchValues<char> NamespaceChars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");

    public static CacheRequestException Invalid(string field, string message) => new(CacheErrorKind.InvalidArgument, field, message);

    public static CacheRequestException TooLarge(string field, string message) => new(CacheErrorKind.ResourceExhausted, field, message);

    public ValidGet Get(CacheGetRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string ns = Namespace(request.Namespace);
        Attributes(request.Attributes, "");
        (string? text, ChatMessage[] context) = TextSource(request.Prompt, request.Messages, "");
        Vector(request.Vector.Span, "vector");
        if (text is null && request.Vector.IsEmpty)
        {
            throw Invalid("prompt", "give a prompt, messages or a vector.");
        }

        if (request.MinSimilarity is float min && (float.IsNaN(min) || min < -1f || min > 1f))
        {
            throw Invalid("min_similarity", $"{min.ToString(CultureInfo.InvariantCulture)} is outside [-1, 1].");
        }

        if (request.TopK < 0 || request.TopK > options.MaxTopK)
        {
            throw Invalid("top_k", $"{request.TopK} is outside [0, {options.MaxTopK}] (Cache:MaxTopK; 0 means 1).");
        }

        Partition partition = Partition.Create(ns, request.Attributes, context);
        string? normalized = text is null ? null : PromptText.Normalize(text);
        return new ValidGet(
            ns,
            NamespaceHash(ns),
            partition,
            normalized,
            normalized is null ? null : ExactKeyOf(partition, normalized),
            request.Vector,
            Math.Max(1, request.TopK),
            request.MinSimilarity ?? options.DefaultThreshold,
            request.ExactOnly);
    }

    public ValidSet[] SetMany(IReadOnlyList<CacheSetRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        if (requests.Count > options.MaxSetManyEntries)
        {
            throw TooLarge("entries", $"{requests.Count} entries exceed the limit of {options.MaxSetManyEntries} (Cache:MaxSetManyEntries).");
        }

        var sets = new ValidSet[requests.Count];
        for (int i = 0; i < sets.Length; i++)
        {
            sets[i] = Set(requests[i], $"entries[{i}].");
        }

        return sets;
    }

    public ValidSet Set(CacheSetRequest request, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(request);
        string ns = Namespace(request.Namespace, prefix + "namespace");
        Attributes(request.Attributes, prefix);
        (string? text, ChatMessage[] context) = TextSource(request.Prompt, request.Messages, prefix);
        if (text is null)
        {
            throw Invalid(prefix + "prompt", "a Set needs a prompt or messages (its exact key).");
        }

        if (string.IsNullOrEmpty(request.Response))
        {
            throw Invalid(prefix + "response", "a Set needs a response.");
        }

        if (request.Response.Length > options.MaxResponseChars)
        {
            throw TooLarge(prefix + "response", $"{request.Response.Length} characters exceed the limit of {options.MaxResponseChars} (Cache:MaxResponseChars).");
        }

        Text(request.Response, prefix + "response");
        if (request.TtlSeconds > maxTtl.TotalSeconds)
        {
            throw Invalid(prefix + "ttl_seconds", $"{request.TtlSeconds} s is above the maximum of {(long)maxTtl.TotalSeconds} s (Storage:MaxTtl).");
        }

        if (request.UsageModel.Length > MaxUsageModelChars)
        {
            throw TooLarge(prefix + "usage.model", $"{request.UsageModel.Length} characters exceed the limit of {MaxUsageModelChars}.");
        }

        Text(request.UsageModel, prefix + "usage.model");
        Vector(request.Vector.Span, prefix + "vector");
        Partition partition = Partition.Create(ns, request.Attributes, context);
        string normalized = PromptText.Normalize(text);
        var usage = new TokenUsage(request.UsageModel, (int)Math.Min(request.InputTokens, int.MaxValue), (int)Math.Min(request.OutputTokens, int.MaxValue));
        TimeSpan? ttl = request.TtlSeconds == 0 ? null : TimeSpan.FromSeconds(request.TtlSeconds);
        string textField = request.Messages.Count == 0 ? prefix + "prompt" : $"{prefix}messages[{request.Messages.Count - 1}].content";
        return new ValidSet(prefix, ns, NamespaceHash(ns), partition, normalized, ExactKeyOf(partition, normalized), request.Response, request.Vector, ttl, usage) { TextField = textField };
    }

    public ValidDelete Delete(CacheDeleteRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string ns = Namespace(request.Namespace);
        Attributes(request.Attributes, "");
        if (request.EntireNamespace)
        {
            if (!string.IsNullOrEmpty(request.Id) || request.Attributes.Count > 0 || request.Messages.Count > 0)
            {
                throw Invalid("entire_namespace", "deletes the whole namespace: give no id, attributes or messages with it.");
            }

            return new ValidDelete(ns, null, null);
        }

        if (!string.IsNullOrEmpty(request.Id))
        {
            if (!ulong.TryParse(request.Id, NumberStyles.None, CultureInfo.InvariantCulture, out ulong id))
            {
                throw Invalid("id", $"'{Shorten(request.Id)}' is not an entry id (ids are decimal numbers, as Set returns them).");
            }

            return new ValidDelete(ns, id, null);
        }

        ChatMessage[] context = request.Messages.Count == 0 ? [] : TextSource(null, request.Messages, "").Context;
        return new ValidDelete(ns, null, Partition.Create(ns, request.Attributes, context));
    }

    public static string Namespace(string? ns, string field = "namespace")
    {
        if (string.IsNullOrEmpty(ns))
        {
            return Partition.DefaultNamespace;
        }

        if (ns.Length > 64 || ns.AsSpan().ContainsAnyExcept(NamespaceChars))
        {
            throw Invalid(field, $"'{Shorten(ns)}' is not a valid namespace: use 1 to 64 characters from [A-Za-z0-9._-].");
        }

        return ns;
    }

    private ulong NamespaceHash(string ns)
    {
        if (_namespaceHashes.TryGetValue(ns, out ulong hash))
        {
            return hash;
        }

        if (_namespaceHashes.Count >= MaxCachedNamespaceHashes)
        {
            _namespaceHashes.Clear();
        }

        return _namespaceHashes[ns] = EntryStore.NamespaceHashOf(ns);
    }

    private void Attributes(IReadOnlyList<KeyValuePair<string, string>> attributes, string prefix)
    {
        if (attributes.Count > options.MaxAttributes)
        {
            throw TooLarge(prefix + "attributes", $"{attributes.Count} attributes exceed the limit of {options.MaxAttributes} (Cache:MaxAttributes).");
        }

        HashSet<string>? seen = attributes.Count > 1 ? new HashSet<string>(attributes.Count, StringComparer.Ordinal) : null;
        foreach ((string key, string value) in attributes)
        {
            if (string.IsNullOrEmpty(key))
            {
                throw Invalid(prefix + "attributes", "an attribute key is empty.");
            }

            if (key.Length > options.MaxAttributeKeyChars)
            {
                throw TooLarge($"{prefix}attributes[{Shorten(key)}]", $"the key's {key.Length} characters exceed the limit of {options.MaxAttributeKeyChars} (Cache:MaxAttributeKeyChars).");
            }

            Text(key, $"{prefix}attributes[{Shorten(key)}]");
            if (seen is not null && !seen.Add(key))
            {
                throw Invalid($"{prefix}attributes[{Shorten(key)}]", "the key is given twice.");
            }

            if (value is null)
            {
                throw Invalid($"{prefix}attributes[{Shorten(key)}]", "the value is null (use an empty string).");
            }

            if (value.Length > options.MaxAttributeValueChars)
            {
                throw TooLarge($"{prefix}attributes[{Shorten(key)}]", $"the value's {value.Length} characters exceed the limit of {options.MaxAttributeValueChars} (Cache:MaxAttributeValueChars).");
            }

            Text(value, $"{prefix}attributes[{Shorten(key)}]");
        }
    }

    /// <summary>
    /// Splits a request's text source: a prompt, or a conversation whose last message is the user's (the matched text)
    /// and whose earlier messages are the context. Returns null text when neither is given.
    /// </summary>
    private (string? Text, ChatMessage[] Context) TextSource(string? prompt, IReadOnlyList<ChatMessage> messages, string prefix)
    {
        bool hasPrompt = !string.IsNullOrEmpty(prompt);
        if (hasPrompt && messages.Count > 0)
        {
            throw Invalid(prefix + "prompt", "give either prompt or messages, not both.");
        }

        if (hasPrompt)
        {
            if (prompt!.Length > options.MaxPromptChars)
            {
                throw TooLarge(prefix + "prompt", $"{prompt.Length} characters exceed the limit of {options.MaxPromptChars} (Cache:MaxPromptChars).");
            }

            if (string.IsNullOrWhiteSpace(prompt))
            {
                throw Invalid(prefix + "prompt", "the prompt is blank.");
            }

            Text(prompt, prefix + "prompt");
            return (prompt, []);
        }

        if (messages.Count == 0)
        {
            return (null, []);
        }

        if (messages.Count > options.MaxMessages)
        {
            throw TooLarge(prefix + "messages", $"{messages.Count} messages exceed the limit of {options.MaxMessages} (Cache:MaxMessages).");
        }

        long total = 0;
        for (int i = 0; i < messages.Count; i++)
        {
            if (string.IsNullOrEmpty(messages[i].Role))
            {
                throw Invalid($"{prefix}messages[{i}].role", "the role is empty.");
            }

            if (messages[i].Content is null)
            {
                throw Invalid($"{prefix}messages[{i}].content", "the content is null (use an empty string).");
            }

            Text(messages[i].Role, $"{prefix}messages[{i}].role");
            Text(messages[i].Content, $"{prefix}messages[{i}].content");
            total += messages[i].Content?.Length ?? 0;
        }

        if (total > options.MaxConversationChars)
        {
            throw TooLarge(prefix + "messages", $"{total} characters in all messages exceed the limit of {options.MaxConversationChars} (Cache:MaxConversationChars).");
        }

        ChatMessage last = messages[^1];
        if (!string.Equals(last.Role, "user", StringComparison.Ordinal))
        {
            throw Invalid($"{prefix}messages[{messages.Count - 1}].role", $"the last message must be the user's (role \"user\"), not \"{Shorten(last.Role)}\": it is the text that is matched.");
        }

        if (last.Content is null || string.IsNullOrWhiteSpace(last.Content))
        {
            throw Invalid($"{prefix}messages[{messages.Count - 1}].content", "the last user message is blank.");
        }

        if (last.Content.Length > options.MaxPromptChars)
        {
            throw TooLarge($"{prefix}messages[{messages.Count - 1}].content", $"{last.Content.Length} characters exceed the limit of {options.MaxPromptChars} (Cache:MaxPromptChars).");
        }

        return (last.Content, messages.Take(messages.Count - 1).ToArray());
    }

    private void Vector(ReadOnlySpan<float> vector, string field)
    {
        if (vector.Length > options.MaxVectorDimension)
        {
            throw TooLarge(field, $"{vector.Length} dimensions exceed the limit of {options.MaxVectorDimension} (Cache:MaxVectorDimension).");
        }

        bool nonZero = false;
        for (int i = 0; i < vector.Length; i++)
        {
            if (!float.IsFinite(vector[i]))
            {
                throw Invalid($"{field}[{i}]", $"{vector[i].ToString(CultureInfo.InvariantCulture)} is not a finite number.");
            }

            nonZero |= vector[i] != 0;
        }

        if (vector.Length > 0 && !nonZero)
        {
            throw Invalid(field, "the zero vector has no direction to compare.");
        }

        // The index normalises with a float sum of squares: values so small that it underflows have no usable direction.
        if (vector.Length > 0 && System.Numerics.Tensors.TensorPrimitives.SumOfSquares(vector) == 0f)
        {
            throw Invalid(field, "the values are too small to give a direction (their sum of squares underflows to zero); scale the vector up.");
        }
    }

    // Text must be well-formed UTF-16 (a lone surrogate has no UTF-8 form: it could neither be stored as sent nor
    // compared); gRPC's UTF-8 strings never carry one, but embedded callers and other front doors can.
    private static void Text(string? text, string field)
    {
        if (text is null || text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            return;
        }

        ReadOnlySpan<char> rest = text;
        int offset = 0;
        while (!rest.IsEmpty)
        {
            if (Rune.DecodeFromUtf16(rest, out _, out int used) != OperationStatus.Done)
            {
                throw Invalid(field, $"character {offset} is a lone UTF-16 surrogate (U+{(int)rest[0]:X4}); text must be valid Unicode.");
            }

            rest = rest[used..];
            offset += used;
        }
    }

    // Exact keys hold the normalised prompt itself; past the store's key limit, its SHA-256 stands in (hits still
    // compare the full stored prompt).
    private static ExactKey ExactKeyOf(Partition partition, string normalized)
    {
        if (Encoding.UTF8.GetByteCount(normalized) <= ExactKey.MaxTextBytes)
        {
            return ExactKey.FromString(partition.Key, normalized);
        }

        byte[] digest = SHA256.HashData(Encoding.UTF8.GetBytes(normalized));
        return new ExactKey(partition.Key, Encoding.UTF8.GetBytes("\0sha256:" + Convert.ToHexStringLower(digest)));
    }

    public static string Shorten(string text) => text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 40), "…");
}

/// <summary>A checked lookup.</summary>
internal sealed record ValidGet(string Namespace, ulong NamespaceHash, Partition Partition, string? Normalized, ExactKey? Key, ReadOnlyMemory<float> Vector, int TopK, float Threshold, bool ExactOnly);

/// <summary>A checked store of one response; <see cref="Prefix"/> is its field path in a SetMany (<c>entries[3].</c>).</summary>
internal sealed record ValidSet(string Prefix, string Namespace, ulong NamespaceHash, Partition Partition, string Normalized, ExactKey Key, string Response, ReadOnlyMemory<float> Vector, TimeSpan? Ttl, TokenUsage Usage)
{
    /// <summary>The field that holds the matched text: <c>prompt</c>, or the last message's content.</summary>
    public string TextField { get; init; } = Prefix + "prompt";
}

/// <summary>A checked deletion: one entry (<see cref="Id"/>), one partition, or the whole namespace (neither).</summary>
internal sealed record ValidDelete(string Namespace, ulong? Id, Partition? Partition);
