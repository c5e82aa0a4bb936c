using System.Text;

namespace SemCache.LoadTool.Data;

/// <summary>
/// The server's normal form for prompts (NFC, trimmed, whitespace runs collapsed to one space; case kept), restated
/// here because the tool talks to the server only through the wire contract. Two texts with the same normal form are
/// one cache entry, so the tool deduplicates preloads and compares a hit's prompt to the expected one in this form.
/// </summary>
internal static class PromptNormalizer
{
    public static string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string composed = text.Normalize(NormalizationForm.FormC).Trim();
        var builder = new StringBuilder(composed.Length);
        bool inSpace = false;
        foreach (char c in composed)
        {
            if (char.IsWhiteSpace(c))
            {
                if (!inSpace)
                {
                    builder.Append(' ');
                }

                inSpace = true;
            }
            else
            {
                builder.Append(c);
                inSpace = false;
            }
        }

        return builder.ToString();
    }
}
