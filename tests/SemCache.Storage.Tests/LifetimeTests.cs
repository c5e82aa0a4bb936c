using System.Runtime.CompilerServices;
using Xunit;

namespace SemCache.Storage.Tests;

public sealed class LifetimeTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(DurabilityMode.Strict)]
    [InlineData(DurabilityMode.Periodic)]
    [InlineData(DurabilityMode.None)]
    public async Task A_disposed_store_is_not_kept_alive_by_its_background_work(DurabilityMode mode)
    {
        using var dir = new TempDirectory();
        var weak = await OpenUseAndDisposeAsync(Entries.Options(dir.Path, mode));

        for (var i = 0; i < 20 && weak.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            await Task.Delay(50, Ct);
        }

        Assert.False(weak.IsAlive, "something still references the disposed store");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> OpenUseAndDisposeAsync(EntryStoreOptions options)
    {
        var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        for (var i = 0; i < 50; i++)
        {
            await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"p{i}"), cancellationToken: Ct);
        }

        await Task.Delay(300, Ct); // let periodic commits run
        await store.DisposeAsync();
        return new WeakReference(store);
    }
}
