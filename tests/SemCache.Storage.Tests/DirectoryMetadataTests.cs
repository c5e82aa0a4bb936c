using System.Buffers.Binary;
using System.IO.Hashing;
using Xunit;

namespace SemCache.Storage.Tests;

/// <summary>Per-namespace counts, the cheap live-entry enumeration and the vector dimension kept per entry.</summary>
public sealed class DirectoryMetadataTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task CountInNamespace_follows_sets_replacements_deletes_expiry_and_eviction_and_forgets_empty_namespaces()
    {
        using var dir = new TempDirectory();
        var clock = new ManualClock();
        var options = Entries.Options(dir.Path);
        options.MaxEntries = 6;
        await using var store = await EntryStore.OpenAsync(options, timeProvider: clock, cancellationToken: Ct);

        var a0 = await store.SetAsync(Entries.Key("a0"), Entries.Make("a0", ns: "a"), cancellationToken: Ct);
        await store.SetAsync(Entries.Key("a1"), Entries.Make("a1", ns: "a"), TimeSpan.FromSeconds(5), Ct);
        await store.SetAsync(Entries.Key("b0"), Entries.Make("b0", ns: "b"), cancellationToken: Ct);
        await store.SetAsync(Entries.Key("a0"), Entries.Make("a0 again", ns: "a"), cancellationToken: Ct); // replaces a0
        Assert.Equal(2, store.CountInNamespace("a"));
        Assert.Equal(1, store.CountInNamespace("b"));
        Assert.Equal(0, store.CountInNamespace("c"));

        await store.SetAsync(Entries.Key("a0"), Entries.Make("a0 moved", ns: "c"), cancellationToken: Ct); // same key, other namespace
        Assert.Equal(1, store.CountInNamespace("a"));
        Assert.Equal(1, store.CountInNamespace("c"));

        clock.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(1, store.SweepExpired());
        Assert.Equal(0, store.CountInNamespace("a"));
        Assert.False(await store.DeleteAsync(a0.Id, Ct));
        Assert.Equal(1, await store.DeleteNamespaceAsync("b", Ct));
        Assert.Equal(0, store.CountInNamespace("b"));
        Assert.Equal(1, store.TrackedNamespaces); // only "c" has entries: empty namespaces leave no counter behind

        for (var i = 0; i < 10; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            await store.SetAsync(Entries.Key($"d{i}"), Entries.Make($"d{i}", ns: "d"), cancellationToken: Ct);
        }

        Assert.Equal(6, store.Count); // eviction removed the "c" entry and four "d" entries
        Assert.Equal(store.Count, store.CountInNamespace("c") + store.CountInNamespace("d"));
        Assert.Equal(store.CountInNamespace("c") == 0 ? 1 : 2, store.TrackedNamespaces);
    }

    [Fact]
    public async Task Namespace_counts_are_rebuilt_on_recovery_from_a_checkpoint_and_the_log()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path);
        var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        await store.SetAsync(Entries.Key("x1"), Entries.Make("x1", ns: "x"), cancellationToken: Ct);
        await store.CheckpointAsync(Ct);
        await store.SetAsync(Entries.Key("x2"), Entries.Make("x2", ns: "x"), cancellationToken: Ct);
        await store.SetAsync(Entries.Key("y1"), Entries.Make("y1", ns: "y"), cancellationToken: Ct);
        await store.SimulateCrashAsync(commitLog: true);

        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        Assert.Equal(2, reopened.CountInNamespace("x"));
        Assert.Equal(1, reopened.CountInNamespace("y"));
    }

    [Fact]
    public async Task EnumerateLiveIds_lists_every_live_entry_once_with_partition_namespace_and_vector_dimension()
    {
        using var dir = new TempDirectory();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), cancellationToken: Ct);
        var expected = new Dictionary<ulong, LiveEntryInfo>();
        for (var i = 0; i < 30; i++)
        {
            var ns = i % 2 == 0 ? "even" : "odd";
            var dimension = i % 3 == 0 ? 0 : 8 + i;
            var id = (await store.SetAsync(Entries.Key($"k{i}", (ulong)(i % 4)), Entries.Make($"p{i}", ns: ns, dimension: dimension), cancellationToken: Ct)).Id;
            expected[id] = new LiveEntryInfo(id, (ulong)(i % 4), EntryStore.NamespaceHashOf(ns), dimension);
        }

        var deleted = expected.Keys.First();
        await store.DeleteAsync(deleted, Ct);
        expected.Remove(deleted);

        var live = store.EnumerateLiveIds().ToList();

        Assert.Equal(expected.Count, live.Count);
        Assert.Equal(expected.Values.OrderBy(e => e.Id), live.OrderBy(e => e.Id));
    }

    [Fact]
    public async Task Removals_report_the_vector_dimension_of_the_removed_entry()
    {
        using var dir = new TempDirectory();
        var observer = new RecordingObserver();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), observer, cancellationToken: Ct);
        var withVector = await store.SetAsync(Entries.Key("v"), Entries.Make("v", dimension: 12), cancellationToken: Ct);
        var without = await store.SetAsync(Entries.Key("n"), Entries.Make("n", dimension: 0), cancellationToken: Ct);

        await store.DeleteAsync(withVector.Id, Ct);
        await store.DeleteAsync(without.Id, Ct);

        Assert.Equal([12, 0], observer.Removed.Select(r => r.VectorDimension));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Vector_dimensions_survive_a_graceful_restart_and_a_crash_replay(bool crash)
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path);
        var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        var checkpointed = await store.SetAsync(Entries.Key("a"), Entries.Make("a", dimension: 5), cancellationToken: Ct);
        await store.CheckpointAsync(Ct);
        var logged = await store.SetAsync(Entries.Key("b"), Entries.Make("b", dimension: 7), cancellationToken: Ct);
        if (crash)
        {
            await store.SimulateCrashAsync(commitLog: true);
        }
        else
        {
            await store.DisposeAsync();
        }

        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        var dims = reopened.EnumerateLiveIds().ToDictionary(e => e.Id, e => e.VectorDimension);
        Assert.Equal(5, dims[checkpointed.Id]);
        Assert.Equal(7, dims[logged.Id]);
    }

    [Fact]
    public async Task A_directory_snapshot_of_the_first_format_is_read_and_dimensions_come_from_the_records()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path, DurabilityMode.None);
        var ids = new Dictionary<ulong, int>();
        await using (var store = await EntryStore.OpenAsync(options, cancellationToken: Ct))
        {
            for (var i = 0; i < 20; i++)
            {
                ids[(await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"p{i}", dimension: i), cancellationToken: Ct)).Id] = i;
            }
        }

        // Rewrite every snapshot as the first format wrote it: magic "SESCDIR1", dimension field 0.
        foreach (var path in Directory.GetFiles(Path.Combine(dir.Path, "checkpoints"), "directory-*.bin"))
        {
            var bytes = await File.ReadAllBytesAsync(path, Ct);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, 0x3152_4944_4353_4553);
            for (var offset = 48; offset + 80 <= bytes.Length - 8; offset += 80)
            {
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(offset + 76), 0);
            }

            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(bytes.Length - 8), XxHash3.HashToUInt64(bytes.AsSpan(0, bytes.Length - 8)));
            await File.WriteAllBytesAsync(path, bytes, Ct);
        }

        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        Assert.Empty(reopened.Recovery.Problems);
        Assert.Equal(ids, reopened.EnumerateLiveIds().ToDictionary(e => e.Id, e => e.VectorDimension));
    }
}
