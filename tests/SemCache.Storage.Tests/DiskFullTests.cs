using System.Diagnostics;
using Xunit;

namespace SemCache.Storage.Tests;

/// <summary>
/// A device that cannot write (a full disk): typed errors, no acknowledgement that is not durable, reads keep working,
/// writes resume by themselves once a retried commit succeeds, and a graceful close never throws.
/// </summary>
public sealed class DiskFullTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(EntryStore Store, WalFaults Faults, EntryStoreOptions Options)> OpenFaultyAsync(string directory, DurabilityMode mode)
    {
        var options = Entries.Options(directory, mode);
        options.CommitInterval = TimeSpan.FromMilliseconds(20);
        var faults = new WalFaults();
        faults.Install(options);
        var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        store.HealthRetryInterval = TimeSpan.FromMilliseconds(50);
        return (store, faults, options);
    }

    [Fact]
    public async Task Strict_sets_fail_with_a_typed_error_naming_the_directory_and_resume_once_the_device_writes_again()
    {
        using var dir = new TempDirectory();
        var (store, faults, options) = await OpenFaultyAsync(dir.Path, DurabilityMode.Strict);
        await using (store)
        {
            var kept = await store.SetAsync(Entries.Key("kept"), Entries.Make("kept"), cancellationToken: Ct);
            Assert.True(store.Health.Writable);
            faults.Wal!.Failing = true;

            var ex = await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.SetAsync(Entries.Key("failed"), Entries.Make("failed"), cancellationToken: Ct));

            Assert.True(ex.DiskFull);
            Assert.Contains(Path.GetFullPath(dir.Path), ex.Message, StringComparison.Ordinal);
            Assert.Contains("No space left on device", ex.Message, StringComparison.Ordinal);
            Assert.False(store.Health.Writable);
            Assert.NotNull(store.Health.Since);
            Assert.Contains("No space left on device", store.Health.Reason, StringComparison.Ordinal);

            // While not writable: writes fail fast without touching the store; reads work.
            var failedWrites = faults.Wal.FailedWrites;
            var count = store.Count;
            await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.SetAsync(Entries.Key("fast"), Entries.Make("fast"), cancellationToken: Ct));
            await Assert.ThrowsAsync<StoreUnavailableException>(() => store.SetManyAsync([new EntryWrite(Entries.Key("m"), Entries.Make("m"), null)], Ct));
            await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.DeleteAsync(kept.Id, Ct));
            Assert.Equal(count, store.Count);
            Assert.Null(await store.GetByExactKeyAsync(Entries.Key("fast"), Ct));
            Assert.Equal("kept", (await store.GetByIdAsync(kept.Id, Ct))!.Prompt);

            faults.Wal.Failing = false;
            await WalFaults.WaitUntilAsync(() => store.Health.Writable, "a retried commit succeeds");
            Assert.Null(store.Health.Reason);
            var after = await store.SetAsync(Entries.Key("after"), Entries.Make("after"), cancellationToken: Ct);
            Assert.NotEqual(kept.Id, after.Id);
        }

        options.DeviceWrapper = null;
        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        Assert.NotNull(await reopened.GetByExactKeyAsync(Entries.Key("kept"), Ct));
        Assert.NotNull(await reopened.GetByExactKeyAsync(Entries.Key("after"), Ct));
        Assert.Null(await reopened.GetByExactKeyAsync(Entries.Key("fast"), Ct));
    }

    [Fact]
    public async Task After_a_failed_commit_and_a_crash_every_acknowledged_strict_set_is_recovered()
    {
        using var dir = new TempDirectory();
        var (store, faults, options) = await OpenFaultyAsync(dir.Path, DurabilityMode.Strict);
        var acknowledged = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            await store.SetAsync(Entries.Key($"a{i}"), Entries.Make($"a{i}"), cancellationToken: Ct);
            acknowledged.Add($"a{i}");
        }

        faults.Wal!.Failing = true;
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.SetAsync(Entries.Key("lost"), Entries.Make("lost"), cancellationToken: Ct));
        faults.Wal.Failing = false;
        await WalFaults.WaitUntilAsync(() => store.Health.Writable, "a retried commit succeeds");
        for (var i = 0; i < 10; i++)
        {
            await store.SetAsync(Entries.Key($"b{i}"), Entries.Make($"b{i}"), cancellationToken: Ct);
            acknowledged.Add($"b{i}");
        }

        await store.SimulateCrashAsync(commitLog: false);
        options.DeviceWrapper = null;

        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        foreach (var key in acknowledged)
        {
            Assert.True(await reopened.GetByExactKeyAsync(Entries.Key(key), Ct) is not null, $"acknowledged Set {key} lost");
        }
    }

    [Fact]
    public async Task Repeated_episodes_each_refuse_writes_and_recover_and_what_was_acknowledged_between_them_survives_a_crash()
    {
        using var dir = new TempDirectory();
        var (store, faults, options) = await OpenFaultyAsync(dir.Path, DurabilityMode.Strict);
        var acknowledged = new List<string>();
        for (var episode = 0; episode < 3; episode++)
        {
            for (var i = 0; i < 5; i++)
            {
                await store.SetAsync(Entries.Key($"e{episode}-{i}"), Entries.Make($"e{episode}-{i}"), cancellationToken: Ct);
                acknowledged.Add($"e{episode}-{i}");
            }

            faults.Wal!.Failing = true;
            await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.SetAsync(Entries.Key($"lost{episode}"), Entries.Make("lost"), cancellationToken: Ct));
            Assert.False(store.Health.Writable);
            faults.Wal.Failing = false;
            await WalFaults.WaitUntilAsync(() => store.Health.Writable, $"episode {episode} ends");
        }

        await store.SetAsync(Entries.Key("last"), Entries.Make("last"), cancellationToken: Ct);
        acknowledged.Add("last");
        await store.SimulateCrashAsync(commitLog: false);
        options.DeviceWrapper = null;

        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        foreach (var key in acknowledged)
        {
            Assert.True(await reopened.GetByExactKeyAsync(Entries.Key(key), Ct) is not null, $"acknowledged Set {key} lost");
        }
    }

    [Fact]
    public async Task Periodic_mode_stops_acknowledging_once_a_commit_fails_and_keeps_what_was_committed()
    {
        using var dir = new TempDirectory();
        var (store, faults, options) = await OpenFaultyAsync(dir.Path, DurabilityMode.Periodic);
        for (var i = 0; i < 20; i++)
        {
            await store.SetAsync(Entries.Key($"c{i}"), Entries.Make($"c{i}"), cancellationToken: Ct);
        }

        var committedTarget = store.WalTailAddress;
        await WalFaults.WaitUntilAsync(() => store.WalCommittedAddress >= committedTarget, "the periodic commit covers the first Sets");
        faults.Wal!.Failing = true;

        // Sets are acknowledged until the first failed commit is noticed (within about one commit interval), then refused.
        var refused = false;
        for (var i = 0; i < 100_000 && !refused; i++)
        {
            try
            {
                await store.SetAsync(Entries.Key($"d{i}"), Entries.Make($"d{i}"), cancellationToken: Ct);
                await Task.Delay(1, Ct);
            }
            catch (StoreUnavailableException ex)
            {
                Assert.True(ex.DiskFull);
                refused = true;
            }
        }

        Assert.True(refused, "Sets were still acknowledged long after commits started failing");
        Assert.False(store.Health.Writable);
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.SetAsync(Entries.Key("again"), Entries.Make("again"), cancellationToken: Ct));

        // A graceful close while the device still fails logs what it could not write and does not throw.
        await store.DisposeAsync();

        options.DeviceWrapper = null;
        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        for (var i = 0; i < 20; i++)
        {
            Assert.True(await reopened.GetByExactKeyAsync(Entries.Key($"c{i}"), Ct) is not null, $"committed Set c{i} lost");
        }
    }

    [Fact]
    public async Task Closing_a_store_that_cannot_write_never_throws()
    {
        using var dir = new TempDirectory();
        var (store, faults, options) = await OpenFaultyAsync(dir.Path, DurabilityMode.Strict);
        await store.SetAsync(Entries.Key("kept"), Entries.Make("kept"), cancellationToken: Ct);
        faults.Wal!.Failing = true;
        await Assert.ThrowsAsync<StoreUnavailableException>(async () => await store.SetAsync(Entries.Key("x"), Entries.Make("x"), cancellationToken: Ct));

        await store.DisposeAsync();

        options.DeviceWrapper = null;
        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        Assert.NotNull(await reopened.GetByExactKeyAsync(Entries.Key("kept"), Ct));
    }

    [Fact]
    public async Task A_failed_hybrid_log_write_refuses_sets_until_restart_instead_of_hanging_them()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path, DurabilityMode.Strict);
        options.MemoryLogSizeBytes = 4 << 16; // four 64 KiB pages: records spill to the hybrid log's file at once
        var faults = new WalFaults();
        faults.Install(options);
        var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        store.HealthRetryInterval = TimeSpan.FromMilliseconds(50);
        var acknowledged = new List<string>();
        faults.HybridLog!.Failing = true;

        StoreUnavailableException? refused = null;
        var writing = Task.Run(
            async () =>
            {
                for (var i = 0; i < 5000 && refused is null; i++)
                {
                    try
                    {
                        await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"k{i}", new string('h', 1000)), cancellationToken: Ct);
                        acknowledged.Add($"k{i}");
                    }
                    catch (StoreUnavailableException ex)
                    {
                        refused = ex;
                    }
                }
            },
            Ct);
        await writing.WaitAsync(TimeSpan.FromSeconds(60), Ct); // a Set stuck in FASTER would fail here, not hang the run

        Assert.NotNull(refused);
        Assert.True(refused.DiskFull);
        Assert.Contains("hybrid log", refused.Message, StringComparison.Ordinal);
        Assert.Contains("restart", refused.Message, StringComparison.Ordinal);
        faults.HybridLog.Failing = false;
        await Task.Delay(300, Ct); // several retry intervals: the hybrid log's failure is not healed by a log commit
        Assert.False(store.Health.Writable);
        Assert.NotNull(await store.GetByExactKeyAsync(Entries.Key(acknowledged[^1]), Ct));
        await store.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(90), Ct);

        options.DeviceWrapper = null;
        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        Assert.True(reopened.Health.Writable);
        foreach (var key in acknowledged)
        {
            Assert.True(await reopened.GetByExactKeyAsync(Entries.Key(key), Ct) is not null, $"acknowledged Set {key} lost");
        }
    }

    /// <summary>The same on a real, small file system (tmpfs); skipped where mounting is not permitted.</summary>
    [Fact]
    public async Task On_a_real_full_file_system_sets_fail_typed_reads_work_and_freeing_space_brings_writes_back()
    {
        using var mount = TmpfsMount.TryCreate(16);
        if (mount is null)
        {
            Assert.Skip("mounting a tmpfs is not permitted here (needs root on Linux)");
        }

        var filler = Path.Combine(mount.Path, "filler");
        await File.WriteAllBytesAsync(filler, new byte[10 << 20], Ct);
        var options = Entries.Options(Path.Combine(mount.Path, "data"), DurabilityMode.Strict);
        options.MemoryLogSizeBytes = 32 << 20; // records stay in memory: the write-ahead log is what fills the disk
        var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        store.HealthRetryInterval = TimeSpan.FromMilliseconds(50);
        StoreUnavailableException? failure = null;
        var acknowledged = 0;
        for (var i = 0; i < 50_000 && failure is null; i++)
        {
            try
            {
                await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"k{i}", new string('f', 1500)), cancellationToken: Ct);
                acknowledged++;
            }
            catch (StoreUnavailableException ex)
            {
                failure = ex;
            }
        }

        Assert.NotNull(failure);
        Assert.True(failure.DiskFull, failure.Message);
        Assert.Contains("No space left on device", failure.Message, StringComparison.Ordinal);
        Assert.Contains(Path.GetFullPath(options.DataDirectory), failure.Message, StringComparison.Ordinal);
        Assert.Equal("k0", (await store.GetByExactKeyAsync(Entries.Key("k0"), Ct))!.Prompt);

        File.Delete(filler);
        await WalFaults.WaitUntilAsync(() => store.Health.Writable, "writes resume after space is freed");
        await store.SetAsync(Entries.Key("after"), Entries.Make("after"), cancellationToken: Ct);
        await store.DisposeAsync();

        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        Assert.NotNull(await reopened.GetByExactKeyAsync(Entries.Key("after"), Ct));
        for (var i = 0; i < acknowledged; i += 97)
        {
            Assert.True(await reopened.GetByExactKeyAsync(Entries.Key($"k{i}"), Ct) is not null, $"acknowledged k{i} lost");
        }
    }
}
