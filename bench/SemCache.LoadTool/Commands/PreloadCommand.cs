namespace SemCache.LoadTool.Commands;

/// <summary>
/// preload: SetMany of a texts file into a namespace that later commands share (give --namespace and
/// --keep-namespace): the side-by-side run's 2,000 stored entries.
/// </summary>
internal static class PreloadCommand
{
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        Flags flags = Flags.Parse(args, "no-progress", "keep-namespace");
        using BenchContext context = BenchContext.Create("preload", args, flags);
        IReadOnlyList<string> texts = TextSlice.Read(context);
        flags.ThrowOnUnused();
        await context.PreloadAsync(texts, cancellationToken).ConfigureAwait(false);
        return await context.FinishAsync(null).ConfigureAwait(false);
    }
}
