using Xunit;
namespace SemCache.Storage.Tests;

public sealed class TtlAndEvictionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_expired_entry_is_never_returned_and_the_sweep_removes_it_and_tells_the_observer()
    {
        using var dir = new TempDirectory();
        var clock = new ManualClock();
        var observer = new RecordingObserver();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), observer, timeProvider: clock, cancellationToken: Ct);
        var shortLived = await store.SetAsync(Entries.Key("short"), Entries.Make("short"), TimeSpan.FromSeconds(10), Ct);
        var longLived = await store.SetAsync(Entries.Key("long"), Entries.Make("long"), TimeSpan.FromSeconds(60), Ct);

        clock.Advance(TimeSpan.FromSeconds(9.999));
        Assert.NotNull(await store.GetByExactKeyAsync(Entries.Key("short"), Ct));
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Null(await store.GetByExactKeyAsync(Entries.Key("short"), Ct));
        Assert.Null(await store.GetByIdAsync(shortLived.Id, Ct));
        Assert.Equal(2, store.Count); // not swept yet, but never returned

        Assert.Equal(1, store.SweepExpired());

        Assert.Equal(1, store.Count);
        Assert.Equal([new RemovedEntry(shortLived.Id, 1, RemovalReason.Expired)], observer.Removed.Select(r => r with { NamespaceHash = 0, VectorDimension = 0 }).ToArray());
        Assert.Equal(1, store.GetStatistics().Expirations);
        Assert.NotNull(await store.GetByIdAsync(longLived.Id, Ct));
    }

    [Fact]
    public async Task A_hit_does_not_extend_the_ttl_by_default()
    {
        using var dir = new TempDirectory();
        var clock = new ManualClock();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), timeProvider: clock, cancellationToken: Ct);
        await store.SetAsync(Entries.Key("k"), Entries.Make("k"), TimeSpan.FromSeconds(10), Ct);

        for (var i = 0; i < 9; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            Assert.NotNull(await store.GetByExactKeyAsync(Entries.Key("k"), Ct));
        }

        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(await store.GetByExactKeyAsync(Entries.Key("k"), Ct));
    }

    [Fact]
    public async Task With_sliding_expiration_a_hit_restarts_the_ttl()
    {
        using var dir = new TempDirectory();
        var clock = new ManualClock();
        var options = Entries.Options(dir.Path);
        options.SlidingExpiration = true;
        await using var store = await EntryStore.OpenAsync(options, timeProvider: clock, cancellationToken: Ct);
        await store.SetAsync(Entries.Key("k"), Entries.Make("k"), TimeSpan.FromSeconds(10), Ct);

        for (var i = 0; i < 5; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(8));
            var hit = await store.GetByExactKeyAsync(Entries.Key("k"), Ct);
            Assert.NotNull(hit);
            Assert.Equal(clock.GetUtcNow().ToUnixTimeMilliseconds() + 10_000, hit.ExpiresUnixMs);
        }

        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Null(await store.GetByExactKeyAsync(Entries.Key("k"), Ct));
    }

    [Fact]
    public async Task The_default_ttl_applies_and_a_longer_request_is_clamped_to_the_maximum()
    {
        using var dir = new TempDirectory();
        var clock = new ManualClock();
        var options = Entries.Options(dir.Path);
        options.DefaultTtl = TimeSpan.FromMinutes(5);
        options.MaxTtl = TimeSpan.FromHours(1);
        await using var store = await EntryStore.OpenAsync(options, timeProvider: clock, cancellationToken: Ct);

        var byDefault = await store.SetAsync(Entries.Key("a"), Entries.Make("a"), cancellationToken: Ct);
        var clamped = await store.SetAsync(Entries.Key("b"), Entries.Make("b"), TimeSpan.FromDays(3), Ct);

        Assert.Equal(byDefault.CreatedUnixMs + 300_000, byDefault.ExpiresUnixMs);
        Assert.Equal(clamped.CreatedUnixMs + 3_600_000, clamped.ExpiresUnixMs);
    }

    [Fact]
    public async Task Entries_expired_while_the_store_was_down_are_dropped_at_start_up()
    {
        using var dir = new TempDirectory();
        var clock = new ManualClock();
        var options = Entries.Options(dir.Path);
        await using (var store = await EntryStore.OpenAsync(options, timeProvider: clock, cancellationToken: Ct))
        {
            await store.SetAsync(Entries.Key("short"), Entries.Make("short"), TimeSpan.FromSeconds(5), Ct);
            await store.SetAsync(Entries.Key("long"), Entries.Make("long"), TimeSpan.FromHours(5), Ct);
        }

        clock.Advance(TimeSpan.FromMinutes(1));
        await using (var store = await EntryStore.OpenAsync(options, timeProvider: clock, cancellationToken: Ct))
        {
            Assert.Equal(1, store.Recovery.ExpiredOnRecovery);
            Assert.Equal(RemovalReason.Expired, Assert.Single(store.Recovery.Removed).Reason);
            Assert.Equal(1, store.Count);
            Assert.NotNull(await store.GetByExactKeyAsync(Entries.Key("long"), Ct));
        }
    }

    [Fact]
    public async Task Past_MaxEntries_the_least_recently_hit_entry_is_evicted_from_store_and_reported()
    {
        using var dir = new TempDirectory();
        var clock = new ManualClock();
        var observer = new RecordingObserver();
        var options = Entries.Options(dir.Path);
        options.MaxEntries = 4;
        await using var store = await EntryStore.OpenAsync(options, observer, timeProvider: clock, cancellationToken: Ct);
        var ids = new ulong[6];
        for (var i = 0; i < 4; i++)
        {
            ids[i] = (await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"k{i}"), cancellationToken: Ct)).Id;
            clock.Advance(TimeSpan.FromSeconds(1));
        }

        // k0 is the oldest but hit recently; k1 is now the least recently hit.
        Assert.NotNull(await store.GetByExactKeyAsync(Entries.Key("k0"), Ct));
        clock.Advance(TimeSpan.FromSeconds(1));
        ids[4] = (await store.SetAsync(Entries.Key("k4"), Entries.Make("k4"), cancellationToken: Ct)).Id;
        clock.Advance(TimeSpan.FromSeconds(1));
        ids[5] = (await store.SetAsync(Entries.Key("k5"), Entries.Make("k5"), cancellationToken: Ct)).Id;

        Assert.Equal(4, store.Count);
        Assert.Equal([new RemovedEntry(ids[1], 1, RemovalReason.Evicted), new RemovedEntry(ids[2], 1, RemovalReason.Evicted)], observer.Removed.Select(r => r with { NamespaceHash = 0, VectorDimension = 0 }).ToArray());
        Assert.Null(await store.GetByIdAsync(ids[1], Ct));
        Assert.NotNull(await store.GetByIdAsync(ids[0], Ct));
        Assert.Equal(2, store.GetStatistics().Evictions);
    }

    [Fact]
    public async Task With_the_oldest_policy_hits_do_not_protect_an_entry()
    {
        using var dir = new TempDirectory();
        var clock = new ManualClock();
        var options = Entries.Options(dir.Path);
        options.MaxEntries = 3;
        options.Eviction = EvictionPolicy.Oldest;
        await using var store = await EntryStore.OpenAsync(options, timeProvider: clock, cancellationToken: Ct);
        var first = await store.SetAsync(Entries.Key("k0"), Entries.Make("k0"), cancellationToken: Ct);
        for (var i = 1; i < 3; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"k{i}"), cancellationToken: Ct);
        }

        Assert.NotNull(await store.GetByIdAsync(first.Id, Ct));
        clock.Advance(TimeSpan.FromSeconds(1));
        await store.SetAsync(Entries.Key("k3"), Entries.Make("k3"), cancellationToken: Ct);

        Assert.Null(await store.GetByIdAsync(first.Id, Ct));
        Assert.Equal(3, store.Count);
    }

    [Fact]
    public async Task Past_MaxBytes_entries_are_evicted_until_the_store_fits()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path);
        options.MaxBytes = 10_000;
        await using var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        for (var i = 0; i < 100; i++)
        {
            await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"k{i}", new string('b', 1000)), cancellationToken: Ct);
            Assert.True(store.Bytes <= 10_000, $"{store.Bytes} bytes after Set {i}");
        }

        Assert.InRange(store.Count, 8, 9);
        Assert.Equal(100 - store.Count, store.GetStatistics().Evictions);
        Assert.NotNull(await store.GetByExactKeyAsync(Entries.Key("k99"), Ct));
    }

    [Fact]
    public async Task Sampled_eviction_keeps_a_large_store_at_its_limit_and_keeps_recent_entries()
    {
        using var dir = new TempDirectory();
        var clock = new ManualClock();
        var options = Entries.Options(dir.Path);
        options.MaxEntries = 500;
        await using var store = await EntryStore.OpenAsync(options, timeProvider: clock, cancellationToken: Ct);

        for (var i = 0; i < 2000; i++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(10));
            await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"k{i}", dimension: 0), cancellationToken: Ct);
        }

        Assert.Equal(500, store.Count);
        Assert.Equal(1500, store.GetStatistics().Evictions);
        var recentKept = 0;
        for (var i = 1950; i < 2000; i++)
        {
            recentKept += await store.GetByExactKeyAsync(Entries.Key($"k{i}"), Ct) is null ? 0 : 1;
        }

        Assert.True(recentKept >= 45, $"only {recentKept} of the 50 newest entries survived sampled eviction");
    }

    [Fact]
    public async Task A_mass_expiry_is_swept_in_chunks_and_every_removal_is_reported()
    {
        using var dir = new TempDirectory();
        var clock = new ManualClock();
        var observer = new RecordingObserver();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), observer, timeProvider: clock, cancellationToken: Ct);
        for (var i = 0; i < 5000; i++)
        {
            await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"k{i}", "r", dimension: 0), TimeSpan.FromSeconds(i < 4500 ? 10 : 100), Ct);
        }

        clock.Advance(TimeSpan.FromSeconds(11));

        Assert.Equal(4500, store.SweepExpired());
        Assert.Equal(500, store.Count);
        Assert.True(observer.Batches.Count >= 2, "the sweep removed everything in one chunk");
        Assert.All(observer.Batches, b => Assert.InRange(b, 1, 4096));
        Assert.Equal(4500, observer.Removed.Count);
        Assert.Equal(4500, observer.Removed.Select(r => r.Id).Distinct().Count());
        Assert.All(observer.Removed, r => Assert.Equal(RemovalReason.Expired, r.Reason));
        Assert.Equal(0, store.SweepExpired());
    }
}
