using System.Buffers;

namespace SemCache.Cache;

/// <summary>Checks requests against the contract and the configured limits before anything is read or written.</summary>
internal sealed class RequestValidator(CacheOptions options)
{
    private static readonly SearchValues<char> NamespaceChars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");

    public static CacheRequestException Invalid(string field, string message) => new(CacheErrorKind.InvalidArgument, field, message);

    public static CacheRequestException TooLarge(string field, string message) => new(CacheErrorKind.ResourceExhausted, field, message);

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

    public void Attributes(IReadOnlyList<KeyValuePair<string, string>> attributes, string prefix = "")
    {
        if (attributes.Count > options.MaxAttributes)
        {
            throw TooLarge(prefix + "attributes", $"{attributes.Count} attributes exceed the limit of {options.MaxAttributes} (Cache:MaxAttributes).");
        }

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

            if (value is not null && value.Length > options.MaxAttributeValueChars)
            {
                throw TooLarge($"{prefix}attributes[{key}]", $"the value's {value.Length} characters exceed the limit of {options.MaxAttributeValueChars} (Cache:MaxAttributeValueChars).");
            }
        }
    }

    /// <summary>
    /// Splits a request's text source: a prompt, or a conversation whose last message is the user's (the matched text)
    /// and whose earlier messages are the context. Returns null text when neither is given.
    /// </summary>
    public (string? Text, ChatMessage[] Context) TextSource(string? prompt, IReadOnlyList<ChatMessage> messages, string prefix = "")
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

    public void Vector(ReadOnlySpan<float> vector, string field)
    {
        if (vector.Length > options.MaxVectorDimension)
        {
            throw Invalid(field, $"{vector.Length} dimensions exceed the limit of {options.MaxVectorDimension} (Cache:MaxVectorDimension).");
        }

        bool nonZero = false;
        for (int i = 0; i < vector.Length; i++)
        {
            if (!float.IsFinite(vector[i]))
            {
                throw Invalid($"{field}[{i}]", $"{vector[i]} is not a finite number.");
            }

            nonZero |= vector[i] != 0;
        }

        if (vector.Length > 0 && !nonZero)
        {
            throw Invalid(field, "the zero vector has no direction to compare.");
        }
    }

    public static string Shorten(string text) => text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 40), "…");
}
