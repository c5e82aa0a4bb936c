using Xunit;

namespace SemCache.Storage.Tests;

public sealed class SetManyTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static EntryWrite Write(int i, string? response = null, TimeSpan? ttl = null) =>
        new(Entries.Key($"k{i}"), Entries.Make($"p{i}", response), ttl);

    [Fact]
    public async Task A_batch_is_stored_in_order_and_every_result_names_its_entry()
    {
        using var dir = new TempDirectory();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path, DurabilityMode.Strict), cancellationToken: Ct);

        var results = await store.SetManyAsync([Write(0), Write(1), Write(0, "again")], Ct);

        Assert.Equal(3, results.Count);
        Assert.False(results[0].Replaced);
        Assert.Equal(results[0].Id, results[2].ReplacedId); // same key later in the batch replaces the earlier one
        Assert.True(results[0].Id < results[1].Id && results[1].Id < results[2].Id);
        Assert.Equal(2, store.Count);
        Assert.Equal("again", (await store.GetByExactKeyAsync(Entries.Key("k0"), Ct))!.Response);
        Assert.Equal(results[1].Id, (await store.GetByExactKeyAsync(Entries.Key("k1"), Ct))!.Id);
        Assert.Equal(3, store.GetStatistics().Sets);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(6)]
    public async Task One_entry_over_the_size_limit_anywhere_in_the_batch_writes_nothing(int bad)
    {
        using var dir = new TempDirectory();
        var observer = new RecordingObserver();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path, DurabilityMode.Strict), observer, cancellationToken: Ct);
        var existing = await store.SetAsync(Entries.Key("k1"), Entries.Make("old"), cancellationToken: Ct);
        var writes = Enumerable.Range(0, 7).Select(i => Write(i, i == bad ? new string('z', 20_000) : null)).ToList();

        var ex = await Assert.ThrowsAsync<EntryTooLargeException>(() => store.SetManyAsync(writes, Ct));

        Assert.Equal(bad, ex.Index);
        Assert.Equal(EntryStore.MeasureEntry(writes[bad].Key, writes[bad].Entry), ex.Bytes);
        Assert.Equal(16 << 10, ex.Limit);
        Assert.Equal(1, store.Count);
        Assert.Equal(existing.Id, (await store.GetByExactKeyAsync(Entries.Key("k1"), Ct))!.Id); // not replaced
        Assert.Empty(observer.Removed);
        Assert.Equal(1, store.GetStatistics().Sets);
    }

    [Fact]
    public async Task Any_invalid_entry_fails_the_whole_batch_before_anything_is_written()
    {
        using var dir = new TempDirectory();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), cancellationToken: Ct);
        var badFingerprint = new EntryWrite(Entries.Key("f"), new CacheEntry { Prompt = "f", ContextFingerprint = new byte[256] }, null);
        var badTtl = new EntryWrite(Entries.Key("t"), Entries.Make("t"), TimeSpan.Zero);
        var badKey = new EntryWrite(new ExactKey(1, new byte[ExactKey.MaxTextBytes + 1]), Entries.Make("k"), null);

        await Assert.ThrowsAsync<ArgumentException>(() => store.SetManyAsync([Write(0), badFingerprint], Ct));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.SetManyAsync([Write(0), badTtl], Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => store.SetManyAsync([Write(0), badKey], Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => store.SetManyAsync([Write(0), new EntryWrite(Entries.Key("n"), null!, null)], Ct));

        Assert.Equal(0, store.Count);
        Assert.Equal(0, store.GetStatistics().Sets);
        Assert.Null(await store.GetByExactKeyAsync(Entries.Key("k0"), Ct));
    }

    [Fact]
    public async Task MeasureEntry_is_the_size_the_limit_applies_to()
    {
        using var dir = new TempDirectory();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), cancellationToken: Ct);
        var probe = Entries.Make("p", "");
        var overhead = EntryStore.MeasureEntry(Entries.Key("k"), probe);
        var fits = Entries.Make("p", new string('a', (16 << 10) - overhead));
        var over = Entries.Make("p", new string('a', (16 << 10) - overhead + 1));

        Assert.Equal(16 << 10, EntryStore.MeasureEntry(Entries.Key("k"), fits));
        await store.SetAsync(Entries.Key("k"), fits, cancellationToken: Ct);
        var ex = await Assert.ThrowsAsync<EntryTooLargeException>(async () => await store.SetAsync(Entries.Key("j"), over, cancellationToken: Ct));
        Assert.Equal((16 << 10) + 1, ex.Bytes);
        Assert.Equal(1, store.Count);
    }

    [Fact]
    public async Task A_strict_batch_waits_for_one_commit_not_one_per_entry()
    {
        using var dir = new TempDirectory();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path, DurabilityMode.Strict), cancellationToken: Ct);
        await store.SetAsync(Entries.Key("warm"), Entries.Make("warm"), cancellationToken: Ct);
        var before = store.GetStatistics().WalCommits;

        await store.SetManyAsync(Enumerable.Range(0, 50).Select(i => Write(i)).ToList(), Ct);

        // One commit covers the batch; a fallback commit of the gather loop may add one more, never one per entry.
        Assert.InRange(store.GetStatistics().WalCommits - before, 1, 2);
    }

    [Fact]
    public async Task A_strict_batch_survives_a_crash_right_after_it_returns()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path, DurabilityMode.Strict);
        var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        var results = await store.SetManyAsync(Enumerable.Range(0, 20).Select(i => Write(i)).ToList(), Ct);
        await store.SimulateCrashAsync(commitLog: false);

        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        Assert.Equal(20, reopened.Count);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(results[i].Id, (await reopened.GetByExactKeyAsync(Entries.Key($"k{i}"), Ct))!.Id);
        }
    }
}
