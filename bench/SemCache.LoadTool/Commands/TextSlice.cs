using System.Globalization;
using SemCache.LoadTool.Data;

namespace SemCache.LoadTool.Commands;

/// <summary>--texts FILE [--offset O] [--take N]: the slice of a texts file one workload sends, recorded in its settings.</summary>
internal static class TextSlice
{
    public static IReadOnlyList<string> Read(BenchContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        string file = context.Flags.String("texts") ?? throw new UsageException($"{context.Result.Command} needs --texts FILE (written by semcache-bench texts)");
        int offset = context.Flags.Int("offset", 0);
        int? take = context.Flags.Int("take");
        IReadOnlyList<string> texts = TextSets.Slice(TextSets.ReadFile(file), offset, take, file);
        context.Result.Settings["texts"] = Path.GetFullPath(file);
        context.Result.Settings["offset"] = offset.ToString(CultureInfo.InvariantCulture);
        context.Result.Settings["texts_sent"] = texts.Count.ToString(CultureInfo.InvariantCulture);
        return texts;
    }
}
