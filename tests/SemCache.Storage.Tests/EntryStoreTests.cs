using Xunit;
using System.Text;

namespace SemCache.Storage.Tests;

public sealed class EntryStoreTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_read_without_the_vector_returns_every_other_field_and_an_empty_vector()
    {
        using var dir = new TempDirectory();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), cancellationToken: Ct);
        var entry = Entries.Make("What is FASTER?", dimension: 384);
        var set = await store.SetAsync(Entries.Key("what is faster"), entry, TimeSpan.FromMinutes(5), Ct);

        var full = await store.GetByIdAsync(set.Id, Ct);
        foreach (var got in new[] { await store.GetByExactKeyAsync(Entries.Key("what is faster"), includeVector: false, Ct), await store.GetByIdAsync(set.Id, includeVector: false, Ct) })
        {
            Assert.NotNull(got);
            Assert.True(got.Vector.IsEmpty);
            Assert.Equal(full!.Id, got.Id);
            Assert.Equal(full.Namespace, got.Namespace);
            Assert.Equal(full.Attributes, got.Attributes);
            Assert.Equal(full.ContextFingerprint.ToArray(), got.ContextFingerprint.ToArray());
            Assert.Equal(full.Prompt, got.Prompt);
            Assert.Equal(full.Response, got.Response);
            Assert.Equal(full.Usage, got.Usage);
            Assert.Equal(full.ExpiresUnixMs, got.ExpiresUnixMs);
        }

        Assert.Equal(384, full!.Vector.Length);
    }

    [Fact]
    public async Task Set_then_get_by_exact_key_and_by_id_round_trips_every_field()
    {
        using var dir = new TempDirectory();
        var clock = new ManualClock();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), timeProvider: clock, cancellationToken: Ct);
        Assert.True(store.Recovery.CreatedNew);
        var entry = Entries.Make("What is FASTER?", dimension: 384);

        var set = await store.SetAsync(Entries.Key("what is faster"), entry, TimeSpan.FromMinutes(5), Ct);

        Assert.False(set.Replaced);
        Assert.Equal(clock.GetUtcNow().ToUnixTimeMilliseconds(), set.CreatedUnixMs);
        Assert.Equal(set.CreatedUnixMs + 300_000, set.ExpiresUnixMs);
        foreach (var got in new[] { await store.GetByExactKeyAsync(Entries.Key("what is faster"), Ct), await store.GetByIdAsync(set.Id, Ct) })
        {
            Assert.NotNull(got);
            Assert.Equal(set.Id, got.Id);
            Assert.Equal(entry.Namespace, got.Namespace);
            Assert.Equal(entry.Attributes, got.Attributes);
            Assert.Equal(entry.ContextFingerprint.ToArray(), got.ContextFingerprint.ToArray());
            Assert.Equal(entry.Prompt, got.Prompt);
            Assert.Equal(entry.Response, got.Response);
            Assert.Equal(entry.Usage, got.Usage);
            Assert.Equal(set.CreatedUnixMs, got.CreatedUnixMs);
            Assert.Equal(set.ExpiresUnixMs, got.ExpiresUnixMs);
            Assert.Equal(entry.Vector.ToArray(), got.Vector.ToArray());
        }

        Assert.Null(await store.GetByExactKeyAsync(Entries.Key("what is faster", partition: 2), Ct));
        Assert.Null(await store.GetByExactKeyAsync(Entries.Key("what is slower"), Ct));
        Assert.Null(await store.GetByIdAsync(set.Id + 1000, Ct));
        var stats = store.GetStatistics();
        Assert.Equal(1, stats.Sets);
        Assert.Equal(2, stats.Hits);
        Assert.Equal(3, stats.Misses);
    }

    [Fact]
    public async Task Set_with_the_same_exact_key_replaces_the_entry_and_reports_the_old_id()
    {
        using var dir = new TempDirectory();
        var observer = new RecordingObserver();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), observer, cancellationToken: Ct);

        var first = await store.SetAsync(Entries.Key("k"), Entries.Make("p", "old"), cancellationToken: Ct);
        var second = await store.SetAsync(Entries.Key("k"), Entries.Make("p", "new"), cancellationToken: Ct);

        Assert.True(second.Replaced);
        Assert.Equal(first.Id, second.ReplacedId);
        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal("new", (await store.GetByExactKeyAsync(Entries.Key("k"), Ct))!.Response);
        Assert.Null(await store.GetByIdAsync(first.Id, Ct));
        Assert.Equal(1, store.Count);
        Assert.Equal([new RemovedEntry(first.Id, 1, RemovalReason.Replaced, EntryStore.NamespaceHashOf(Entries.Make("x").Namespace), VectorDimension: 4)], observer.Removed.ToArray());
    }

    [Fact]
    public async Task Delete_by_id_partition_and_namespace_remove_exactly_the_matching_entries()
    {
        using var dir = new TempDirectory();
        var observer = new RecordingObserver();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), observer, cancellationToken: Ct);
        var a = await store.SetAsync(Entries.Key("a", 1), Entries.Make("a", ns: "n1"), cancellationToken: Ct);
        var b = await store.SetAsync(Entries.Key("b", 2), Entries.Make("b", ns: "n1"), cancellationToken: Ct);
        var c = await store.SetAsync(Entries.Key("c", 2), Entries.Make("c", ns: "n2"), cancellationToken: Ct);
        var d = await store.SetAsync(Entries.Key("d", 3), Entries.Make("d", ns: "n2"), cancellationToken: Ct);

        Assert.True(await store.DeleteAsync(a.Id, Ct));
        Assert.False(await store.DeleteAsync(a.Id, Ct));
        Assert.Equal(2, await store.DeletePartitionAsync(2, Ct));
        Assert.Equal(0, await store.DeleteNamespaceAsync("n1", Ct));
        Assert.Equal(1, await store.DeleteNamespaceAsync("n2", Ct));

        Assert.Equal(0, store.Count);
        Assert.Equal(0, store.Bytes);
        Assert.Equal(new[] { a.Id, b.Id, c.Id, d.Id }, observer.Removed.Select(r => r.Id).Order().ToArray());
        Assert.All(observer.Removed, r => Assert.Equal(RemovalReason.Deleted, r.Reason));
        Assert.Null(await store.GetByExactKeyAsync(Entries.Key("d", 3), Ct));
    }

    [Theory]
    [InlineData(DurabilityMode.Strict)]
    [InlineData(DurabilityMode.Periodic)]
    [InlineData(DurabilityMode.None)]
    public async Task Restart_after_graceful_shutdown_keeps_everything(DurabilityMode durability)
    {
        using var dir = new TempDirectory();
        var ids = new Dictionary<string, ulong>();
        ulong deleted;
        await using (var store = await EntryStore.OpenAsync(Entries.Options(dir.Path, durability), cancellationToken: Ct))
        {
            for (var i = 0; i < 1500; i++)
            {
                ids[$"k{i}"] = (await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"prompt {i}", new string('x', 900)), cancellationToken: Ct)).Id;
            }

            deleted = ids["k7"];
            await store.DeleteAsync(deleted, Ct);
        }

        await using (var store = await EntryStore.OpenAsync(Entries.Options(dir.Path, durability), cancellationToken: Ct))
        {
            Assert.False(store.Recovery.CreatedNew);
            Assert.Equal(0, store.Recovery.ReplayedOperations);
            Assert.Empty(store.Recovery.Problems);
            Assert.Equal(1499, store.Count);
            Assert.Null(await store.GetByIdAsync(deleted, Ct));
            foreach (var (key, id) in ids.Where(kv => kv.Value != deleted))
            {
                var got = await store.GetByExactKeyAsync(Entries.Key(key), Ct);
                Assert.NotNull(got);
                Assert.Equal(id, got.Id);
                Assert.Equal("prompt " + key[1..], got.Prompt);
            }

            // Ids are never reused after a restart.
            var next = await store.SetAsync(Entries.Key("after"), Entries.Make("after"), cancellationToken: Ct);
            Assert.True(next.Id > ids.Values.Max());
        }
    }

    [Fact]
    public async Task Data_larger_than_the_memory_budget_spills_to_disk_and_stays_readable()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path);
        options.MemoryLogSizeBytes = 4 << 16; // four 64 KiB pages = 256 KiB in memory
        var response = new string('y', 1000);
        var ids = new List<ulong>();
        await using (var store = await EntryStore.OpenAsync(options, cancellationToken: Ct))
        {
            for (var i = 0; i < 3000; i++)
            {
                ids.Add((await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"p{i}", response), cancellationToken: Ct)).Id);
            }

            Assert.True(store.Bytes > 8 * options.MemoryLogSizeBytes);
            for (var i = 0; i < ids.Count; i += 7)
            {
                Assert.Equal($"p{i}", (await store.GetByIdAsync(ids[i], Ct))!.Prompt);
            }
        }

        await using (var store = await EntryStore.OpenAsync(options, cancellationToken: Ct))
        {
            for (var i = 0; i < ids.Count; i += 11)
            {
                Assert.Equal($"p{i}", (await store.GetByExactKeyAsync(Entries.Key($"k{i}"), Ct))!.Prompt);
            }
        }
    }

    [Fact]
    public async Task Enumerating_live_entries_yields_each_live_entry_once_with_its_vector()
    {
        using var dir = new TempDirectory();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), cancellationToken: Ct);
        var expected = new Dictionary<ulong, float[]>();
        for (var i = 0; i < 200; i++)
        {
            var entry = Entries.Make($"p{i}", dimension: 8);
            var id = (await store.SetAsync(Entries.Key($"k{i % 150}", (ulong)(i % 3)), entry, cancellationToken: Ct)).Id;
            expected[id] = entry.Vector.ToArray();
        }

        foreach (var id in expected.Keys.Where(id => store.GetByIdAsync(id, Ct).AsTask().Result is null).ToList())
        {
            expected.Remove(id); // replaced by a later Set with the same key
        }

        var removed = expected.Keys.First();
        await store.DeleteAsync(removed, Ct);
        expected.Remove(removed);

        var live = store.EnumerateLiveEntries().ToList();
        Assert.Equal(expected.Count, live.Count);
        Assert.Equal(store.Count, live.Count);
        foreach (var e in live)
        {
            Assert.Equal(expected[e.Id], e.Vector.ToArray());
        }
    }

    [Fact]
    public async Task Concurrent_writers_and_readers_see_only_complete_and_correct_entries()
    {
        using var dir = new TempDirectory();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path, DurabilityMode.Strict), cancellationToken: Ct);
        const int writers = 8;
        const int perWriter = 300;
        var written = new System.Collections.Concurrent.ConcurrentDictionary<string, ulong>();
        var done = 0;
        var writerTasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (var n = 0; n < perWriter; n++)
            {
                var name = $"w{w}-{n}";
                var result = await store.SetAsync(Entries.Key(name), Entries.Make(name, $"response of {name}"), cancellationToken: Ct);
                written[name] = result.Id;
                if (n % 50 == 0)
                {
                    // Replace an earlier key of this writer: readers must see the old or the new value, never a mix.
                    await store.SetAsync(Entries.Key($"w{w}-0"), Entries.Make($"w{w}-0", $"response of w{w}-0"), cancellationToken: Ct);
                }
            }

            Interlocked.Increment(ref done);
        }, Ct)).ToArray();
        var hits = 0;
        var readerTasks = Enumerable.Range(0, 4).Select(r => Task.Run(async () =>
        {
            var reads = 0;
            var random = new Random(r);
            while (Volatile.Read(ref done) < writers || reads < 100)
            {
                var name = $"w{random.Next(writers)}-{random.Next(perWriter)}";
                var got = await store.GetByExactKeyAsync(Entries.Key(name), Ct);
                if (got is not null)
                {
                    Assert.Equal(name, got.Prompt);
                    Assert.Equal($"response of {name}", got.Response);
                    Interlocked.Increment(ref hits);
                }

                reads++;
            }

            return reads;
        }, Ct)).ToArray();

        await Task.WhenAll(writerTasks);
        var reads = await Task.WhenAll(readerTasks);

        Assert.All(reads, r => Assert.True(r >= 100));
        Assert.True(hits > 0, "the readers never found an entry, so they checked nothing"); // at least the reads after the writers finished hit
        Assert.Equal(writers * perWriter, store.Count);
        foreach (var (name, _) in written)
        {
            Assert.Equal(name, (await store.GetByExactKeyAsync(Entries.Key(name), Ct))!.Prompt);
        }
    }

    [Fact]
    public async Task Invalid_options_are_rejected_with_a_message_naming_each_problem()
    {
        var options = new EntryStoreOptions { DataDirectory = "", CommitInterval = TimeSpan.Zero, MaxEntries = -1, DefaultTtl = TimeSpan.FromDays(60) };

        var ex = await Assert.ThrowsAsync<ArgumentException>(() => EntryStore.OpenAsync(options, cancellationToken: Ct));

        Assert.Contains("DataDirectory is required", ex.Message, StringComparison.Ordinal);
        Assert.Contains("CommitInterval", ex.Message, StringComparison.Ordinal);
        Assert.Contains("MaxEntries", ex.Message, StringComparison.Ordinal);
        Assert.Contains("MaxTtl", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_entry_larger_than_MaxEntryBytes_is_rejected()
    {
        using var dir = new TempDirectory();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), cancellationToken: Ct);

        var big = Entries.Make("big", new string('z', 20_000));

        var ex = await Assert.ThrowsAsync<EntryTooLargeException>(async () => await store.SetAsync(Entries.Key("big"), big, cancellationToken: Ct));

        Assert.Contains("MaxEntryBytes", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, ex.Index);
        Assert.Equal(EntryStore.MeasureEntry(Entries.Key("big"), big), ex.Bytes);
        Assert.Equal(16 << 10, ex.Limit);
        Assert.Equal(0, store.Count);
        Assert.Equal(0, store.GetStatistics().Sets);
    }

    [Fact]
    public async Task Checkpoint_returns_increasing_sequences_and_tells_the_observer()
    {
        using var dir = new TempDirectory();
        var observer = new RecordingObserver();
        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), observer, cancellationToken: Ct);
        await store.SetAsync(Entries.Key("a"), Entries.Make("a"), cancellationToken: Ct);

        var first = await store.CheckpointAsync(Ct);
        await store.SetAsync(Entries.Key("b"), Entries.Make("b"), cancellationToken: Ct);
        var second = await store.CheckpointAsync(Ct);

        Assert.Equal(1, first.EntryCount);
        Assert.Equal(2, second.EntryCount);
        Assert.Equal(first.Sequence + 1, second.Sequence);
        Assert.Equal(second.Sequence, store.CheckpointSequence);
        Assert.Contains(first.Sequence, observer.Checkpoints);
        Assert.Contains(second.Sequence, observer.Checkpoints);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(dir.Path, "checkpoints"), "*.manifest").Length);
    }

    [Fact]
    public async Task Replay_after_a_crash_reports_the_changes_since_the_recovered_checkpoint()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path);
        long checkpoint;
        ulong kept, removed, addedAfter;
        var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        kept = (await store.SetAsync(Entries.Key("kept"), Entries.Make("kept"), cancellationToken: Ct)).Id;
        removed = (await store.SetAsync(Entries.Key("removed"), Entries.Make("removed"), cancellationToken: Ct)).Id;
        checkpoint = (await store.CheckpointAsync(Ct)).Sequence;
        addedAfter = (await store.SetAsync(Entries.Key("added"), Entries.Make("added"), cancellationToken: Ct)).Id;
        await store.DeleteAsync(removed, Ct);
        await store.SimulateCrashAsync(commitLog: true);

        var observer = new RecordingObserver();
        await using var reopened = await EntryStore.OpenAsync(options, observer, cancellationToken: Ct);

        var report = reopened.Recovery;
        Assert.Empty(observer.Checkpoints); // the post-recovery checkpoint is reported through CurrentCheckpointSequence
        Assert.Empty(observer.Removed);
        Assert.Equal(checkpoint, report.CheckpointSequence);
        Assert.Equal(2, report.ReplayedOperations);
        Assert.Equal([addedAfter], report.AddedIds);
        Assert.Equal([removed], report.Removed.Select(r => r.Id));
        Assert.Equal(RemovalReason.Deleted, Assert.Single(report.Removed).Reason);
        Assert.True(report.CurrentCheckpointSequence > checkpoint);
        Assert.Equal(2, reopened.Count);
        Assert.NotNull(await reopened.GetByIdAsync(kept, Ct));
        Assert.NotNull(await reopened.GetByIdAsync(addedAfter, Ct));
        Assert.Null(await reopened.GetByIdAsync(removed, Ct));
        Assert.Equal("added", (await reopened.GetByExactKeyAsync(Entries.Key("added"), Ct))!.Prompt);
    }

    [Fact]
    public async Task Compaction_reclaims_the_log_space_of_removed_entries_and_keeps_live_ones_across_a_restart()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path);
        options.MemoryLogSizeBytes = 4 << 16;
        var live = new List<(string Key, ulong Id)>();
        await using (var store = await EntryStore.OpenAsync(options, cancellationToken: Ct))
        {
            for (var i = 0; i < 2000; i++)
            {
                var id = (await store.SetAsync(Entries.Key($"k{i % 500}"), Entries.Make($"p{i}", new string('c', 700)), cancellationToken: Ct)).Id;
                if (i >= 1500)
                {
                    live.Add(($"k{i % 500}", id));
                }
            }

            var reclaimed = await store.CompactAsync(Ct);
            await store.CheckpointAsync(Ct);

            Assert.True(reclaimed > 0);
            Assert.Equal(500, store.Count);
        }

        await using (var store = await EntryStore.OpenAsync(options, cancellationToken: Ct))
        {
            Assert.Equal(500, store.Count);
            foreach (var (key, id) in live)
            {
                var got = await store.GetByExactKeyAsync(Entries.Key(key), Ct);
                Assert.NotNull(got);
                Assert.Equal(id, got.Id);
            }

            Assert.Equal(500, store.EnumerateLiveEntries().Count());
        }
    }

    [Fact]
    public async Task A_second_store_on_the_same_directory_is_refused_while_the_first_is_open()
    {
        using var dir = new TempDirectory();
        await using (var first = await EntryStore.OpenAsync(Entries.Options(dir.Path), cancellationToken: Ct))
        {
            var ex = await Assert.ThrowsAsync<IOException>(() => EntryStore.OpenAsync(Entries.Options(dir.Path), cancellationToken: Ct));
            Assert.Contains("in use by another entry store", ex.Message, StringComparison.Ordinal);
            await first.SetAsync(Entries.Key("still works"), Entries.Make("p"), cancellationToken: Ct);
        }

        await using var reopened = await EntryStore.OpenAsync(Entries.Options(dir.Path), cancellationToken: Ct);
        Assert.Equal(1, reopened.Count);
    }

    [Fact]
    public async Task Ids_handed_out_before_a_crash_are_never_reused_even_for_lost_sets()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path, DurabilityMode.None);
        var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        await store.SetAsync(Entries.Key("kept"), Entries.Make("kept"), cancellationToken: Ct);
        await store.CheckpointAsync(Ct);
        var lost = new List<ulong>();
        for (var i = 0; i < 5; i++)
        {
            lost.Add((await store.SetAsync(Entries.Key($"lost{i}"), Entries.Make($"lost{i}"), cancellationToken: Ct)).Id);
        }

        await store.SimulateCrashAsync(commitLog: false);

        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        Assert.Equal(1, reopened.Count);
        for (var i = 0; i < 5; i++)
        {
            var id = (await reopened.SetAsync(Entries.Key($"new{i}"), Entries.Make($"new{i}"), cancellationToken: Ct)).Id;
            Assert.DoesNotContain(id, lost);
            Assert.True(id > lost.Max());
        }
    }
}
