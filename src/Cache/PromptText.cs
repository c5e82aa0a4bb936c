using System.Text;

namespace SemCache.Cache;

/// <summary>The normal form in which prompts are compared for exact hits.</summary>
public static class PromptText
{
    /// <summary>
    /// Unicode NFC, leading and trailing whitespace removed, every run of whitespace collapsed to one space; case is
    /// kept (a prompt in capitals may well want an answer in capitals).
    /// </summary>
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string composed = text.IsNormalized(NormalizationForm.FormC) ? text : text.Normalize(NormalizationForm.FormC);
        ReadOnlySpan<char> span = composed.AsSpan().Trim();
        if (!NeedsCollapse(span))
        {
            return span.Length == composed.Length ? composed : span.ToString();
        }

        var builder = new StringBuilder(span.Length);
        bool inSpace = false;
        foreach (char c in span)
        {
            if (char.IsWhiteSpace(c))
            {
                if (!inSpace)
                {
                    builder.Append(' ');
                    inSpace = true;
                }
            }
            else
            {
                builder.Append(c);
                inSpace = false;
            }
        }

        return builder.ToString();
    }

    private static bool NeedsCollapse(ReadOnlySpan<char> span)
    {
        for (int i = 0; i < span.Length; i++)
        {
            if (char.IsWhiteSpace(span[i]) && (span[i] != ' ' || (i + 1 < span.Length && char.IsWhiteSpace(span[i + 1]))))
            {
                return true;
            }
        }

        return false;
    }
}
