using Xunit;

namespace SemCache.Storage.Tests;

public sealed class DamagedDirectoryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<List<ulong>> FillAndCloseAsync(EntryStoreOptions options, int count, int checkpointEvery = 0)
    {
        var ids = new List<ulong>();
        await using var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        for (var i = 0; i < count; i++)
        {
            ids.Add((await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"p{i}", new string('d', 800)), cancellationToken: Ct)).Id);
            if (checkpointEvery > 0 && i % checkpointEvery == checkpointEvery - 1)
            {
                await store.CheckpointAsync(Ct);
            }
        }

        return ids;
    }

    private static string NewestFile(string directory, string pattern) =>
        Directory.GetFiles(directory, pattern).OrderByDescending(f => f, StringComparer.Ordinal).First();

    [Fact]
    public async Task A_truncated_hybrid_log_fails_with_a_clear_error_and_leaves_the_directory_untouched()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path, DurabilityMode.None);
        await FillAndCloseAsync(options, 500, checkpointEvery: 200);
        var segment = Path.Combine(dir.Path, "kv", "hlog.log.0");
        using (var stream = new FileStream(segment, FileMode.Open))
        {
            stream.SetLength(1000); // shorter than what either retained checkpoint needs
        }

        var ex = await Assert.ThrowsAsync<EntryStoreCorruptedException>(() => EntryStore.OpenAsync(options, cancellationToken: Ct));

        Assert.Contains("hlog.log.0", ex.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);
        Assert.Equal(1000, new FileInfo(segment).Length);

        // A second start gives the same clear error, not a different failure (no crash loop with side effects).
        await Assert.ThrowsAsync<EntryStoreCorruptedException>(() => EntryStore.OpenAsync(options, cancellationToken: Ct));
    }

    [Fact]
    public async Task With_MoveAside_a_truncated_log_is_moved_away_and_the_store_starts_empty_saying_what_was_lost()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path, DurabilityMode.None);
        await FillAndCloseAsync(options, 500, checkpointEvery: 200);
        using (var stream = new FileStream(Path.Combine(dir.Path, "kv", "hlog.log.0"), FileMode.Open))
        {
            stream.SetLength(1000);
        }

        options.OnUnrecoverableData = UnrecoverableDataPolicy.MoveAsideAndStartEmpty;
        await using var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        Assert.True(store.Recovery.CreatedNew);
        Assert.Equal(0, store.Count);
        Assert.NotNull(store.Recovery.MovedAsideTo);
        Assert.True(Directory.Exists(store.Recovery.MovedAsideTo));
        Assert.Contains(store.Recovery.Problems, p => p.Contains("500 entries", StringComparison.Ordinal) && p.Contains("truncated", StringComparison.Ordinal));
        await store.SetAsync(Entries.Key("fresh"), Entries.Make("fresh"), cancellationToken: Ct);
        Assert.Equal(1, store.Count);
    }

    [Fact]
    public async Task A_log_truncated_after_the_previous_checkpoint_recovers_it_and_the_write_ahead_log_restores_the_rest()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path, DurabilityMode.Periodic);
        var ids = await FillAndCloseAsync(options, 250, checkpointEvery: 100); // checkpoints after 100, 200, and the final one after 250
        var manifests = Directory.GetFiles(Path.Combine(dir.Path, "checkpoints"), "*.manifest").Order(StringComparer.Ordinal).ToArray();
        var olderTail = long.Parse(File.ReadAllLines(manifests[0]).Single(l => l.StartsWith("kvTail=", StringComparison.Ordinal))[7..], System.Globalization.CultureInfo.InvariantCulture);
        using (var stream = new FileStream(Path.Combine(dir.Path, "kv", "hlog.log.0"), FileMode.Open))
        {
            stream.SetLength(olderTail + 4096);
        }

        await using var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        Assert.True(store.Recovery.FellBackToOlderCheckpoint);
        Assert.Contains(store.Recovery.Problems, p => p.Contains("truncated", StringComparison.Ordinal) && p.Contains("250 entries", StringComparison.Ordinal));
        Assert.Equal(ids.Count, store.Count);
        foreach (var id in ids)
        {
            Assert.NotNull(await store.GetByIdAsync(id, Ct));
        }
    }

    [Fact]
    public async Task A_corrupt_newest_checkpoint_falls_back_to_the_previous_one_and_the_log_replay_loses_nothing()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path, DurabilityMode.Periodic);
        var ids = await FillAndCloseAsync(options, 400, checkpointEvery: 150);
        var snapshot = NewestFile(Path.Combine(dir.Path, "checkpoints"), "directory-*.bin");
        var bytes = await File.ReadAllBytesAsync(snapshot, Ct);
        bytes[bytes.Length / 2] ^= 0xFF;
        await File.WriteAllBytesAsync(snapshot, bytes, Ct);

        await using var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        Assert.True(store.Recovery.FellBackToOlderCheckpoint);
        Assert.Contains(store.Recovery.Problems, p => p.Contains("checksum mismatch", StringComparison.Ordinal));
        Assert.Contains(store.Recovery.Problems, p => p.Contains("recovered the older checkpoint", StringComparison.Ordinal));
        Assert.True(store.Recovery.ReplayedOperations > 0);
        Assert.Equal(ids.Count, store.Count);
        foreach (var id in ids)
        {
            Assert.NotNull(await store.GetByIdAsync(id, Ct));
        }
    }

    [Fact]
    public async Task Without_a_log_a_corrupt_newest_checkpoint_recovers_the_previous_one_and_says_later_changes_are_lost()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path, DurabilityMode.None);
        await using (var store = await EntryStore.OpenAsync(options, cancellationToken: Ct))
        {
            for (var i = 0; i < 10; i++)
            {
                await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"p{i}"), cancellationToken: Ct);
            }

            await store.CheckpointAsync(Ct);
            for (var i = 10; i < 15; i++)
            {
                await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"p{i}"), cancellationToken: Ct);
            }
        }

        var manifest = NewestFile(Path.Combine(dir.Path, "checkpoints"), "*.manifest");
        await File.WriteAllTextAsync(manifest, "garbage", Ct);

        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        Assert.True(reopened.Recovery.FellBackToOlderCheckpoint);
        Assert.Equal(10, reopened.Count);
        Assert.Contains(reopened.Recovery.Problems, p => p.Contains("not a SemCache manifest", StringComparison.Ordinal));
        Assert.Contains(reopened.Recovery.Problems, p => p.Contains("changes made after it are lost", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_directory_written_in_another_format_version_is_refused_with_both_versions_named()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path);
        await FillAndCloseAsync(options, 5);
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "FORMAT"), "semcache-entry-store format=99\n", Ct);

        var ex = await Assert.ThrowsAsync<EntryStoreVersionException>(() => EntryStore.OpenAsync(options, cancellationToken: Ct));

        Assert.Contains("format=99", ex.Message, StringComparison.Ordinal);
        Assert.Contains("format=1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_checkpoint_manifest_of_another_format_version_is_refused()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path);
        await FillAndCloseAsync(options, 5);
        foreach (var manifest in Directory.GetFiles(Path.Combine(dir.Path, "checkpoints"), "*.manifest"))
        {
            var text = await File.ReadAllTextAsync(manifest, Ct);
            var body = text[..text.LastIndexOf("checksum=", StringComparison.Ordinal)].Replace("format=1", "format=2", StringComparison.Ordinal);
            var checksum = System.IO.Hashing.XxHash3.HashToUInt64(System.Text.Encoding.UTF8.GetBytes(body)).ToString("x16", System.Globalization.CultureInfo.InvariantCulture);
            await File.WriteAllTextAsync(manifest, body + "checksum=" + checksum + "\n", Ct);
        }

        var ex = await Assert.ThrowsAsync<EntryStoreVersionException>(() => EntryStore.OpenAsync(options, cancellationToken: Ct));

        Assert.Contains("format version 2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_checkpoints_beside_existing_data_are_reported_not_silently_reset()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path);
        await FillAndCloseAsync(options, 20);
        Directory.Delete(Path.Combine(dir.Path, "checkpoints"), recursive: true);

        var ex = await Assert.ThrowsAsync<EntryStoreCorruptedException>(() => EntryStore.OpenAsync(options, cancellationToken: Ct));

        Assert.Contains("no checkpoint manifest", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_damaged_stretch_of_the_write_ahead_log_loses_only_the_records_in_it()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path, DurabilityMode.Periodic);
        var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        for (var i = 0; i < 200; i++)
        {
            await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"p{i}", new string('w', 500)), cancellationToken: Ct);
        }

        await store.SimulateCrashAsync(commitLog: true);
        var wal = Directory.GetFiles(Path.Combine(dir.Path, "wal"), "wal.log.*").Single();
        var bytes = await File.ReadAllBytesAsync(wal, Ct);
        for (var i = bytes.Length * 3 / 4; i < bytes.Length * 3 / 4 + 64; i++)
        {
            bytes[i] ^= 0x5A;
        }

        await File.WriteAllBytesAsync(wal, bytes, Ct);

        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        // 64 damaged bytes touch one record, or two neighbours; every other record is replayed.
        Assert.Equal(1, reopened.Recovery.SkippedRecords);
        var problem = Assert.Single(reopened.Recovery.Problems);
        Assert.Contains("write-ahead log is damaged at address", problem, StringComparison.Ordinal);
        Assert.Contains("lost", problem, StringComparison.Ordinal);
        Assert.InRange(reopened.Count, 198, 199);
        var missing = 0;
        for (var i = 0; i < 200; i++)
        {
            var got = await reopened.GetByExactKeyAsync(Entries.Key($"k{i}"), Ct);
            if (got is null)
            {
                missing++;
                Assert.InRange(i, 100, 199); // the damage is in the last quarter of the log
            }
            else
            {
                Assert.Equal($"p{i}", got.Prompt);
            }
        }

        Assert.Equal(200 - reopened.Count, missing);
    }

    [Fact]
    public async Task With_MoveAside_a_damaged_store_is_moved_away_with_the_engine_files_beside_it_and_starts_empty()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path, DurabilityMode.Periodic);
        await FillAndCloseAsync(options, 300, checkpointEvery: 100);

        // What the engine keeps in the same directory.
        Directory.CreateDirectory(Path.Combine(dir.Path, "index"));
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "index", "snapshot-000001.bin"), "index", Ct);
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "namespaces.json"), "{\"tenant\":4}", Ct);
        foreach (var manifest in Directory.GetFiles(Path.Combine(dir.Path, "checkpoints"), "*.manifest"))
        {
            await File.WriteAllTextAsync(manifest, "garbage", Ct);
        }

        options.OnUnrecoverableData = UnrecoverableDataPolicy.MoveAsideAndStartEmpty;
        await using (var store = await EntryStore.OpenAsync(options, cancellationToken: Ct))
        {
            Assert.True(store.Recovery.CreatedNew);
            Assert.Equal(0, store.Count);
            Assert.Null(await store.GetByExactKeyAsync(Entries.Key("k1"), Ct));
            Assert.NotNull(store.Recovery.MovedAsideTo);
            Assert.True(File.Exists(Path.Combine(store.Recovery.MovedAsideTo, "namespaces.json")));
            Assert.True(File.Exists(Path.Combine(store.Recovery.MovedAsideTo, "index", "snapshot-000001.bin")));
            Assert.False(Directory.Exists(Path.Combine(dir.Path, "index")));
            await store.SetAsync(Entries.Key("fresh"), Entries.Make("fresh"), cancellationToken: Ct);
        }

        // The engine writes its files into the new directory again; the next start is clean.
        Directory.CreateDirectory(Path.Combine(dir.Path, "index"));
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "namespaces.json"), "{}", Ct);
        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        Assert.False(reopened.Recovery.CreatedNew);
        Assert.Empty(reopened.Recovery.Problems);
        Assert.Equal(1, reopened.Count);
    }

    [Fact]
    public async Task A_new_store_in_a_directory_holding_only_engine_files_is_created_without_a_problem()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(Path.Combine(dir.Path, "index"));
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "namespaces.json"), "{}", Ct);

        await using var store = await EntryStore.OpenAsync(Entries.Options(dir.Path), cancellationToken: Ct);

        Assert.True(store.Recovery.CreatedNew);
        Assert.Empty(store.Recovery.Problems);
    }
}

/// <summary>Damage in the FASTER checkpoints and a data directory that cannot be renamed.</summary>
public sealed class DamagedCheckpointTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Damaged_FASTER_checkpoint_metadata_in_every_checkpoint_fails_with_one_typed_line_not_a_crash()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path, DurabilityMode.None);
        await using (var store = await EntryStore.OpenAsync(options, cancellationToken: Ct))
        {
            for (var i = 0; i < 50; i++)
            {
                await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"p{i}"), cancellationToken: Ct);
            }

            await store.CheckpointAsync(Ct);
        }

        foreach (var file in Directory.GetFiles(Path.Combine(dir.Path, "kv-checkpoints"), "*", SearchOption.AllDirectories))
        {
            var bytes = await File.ReadAllBytesAsync(file, Ct);
            for (var i = 0; i < bytes.Length; i += 7)
            {
                bytes[i] ^= 0xA5;
            }

            await File.WriteAllBytesAsync(file, bytes, Ct);
        }

        var ex = await Assert.ThrowsAsync<EntryStoreCorruptedException>(() => EntryStore.OpenAsync(options, cancellationToken: Ct));

        Assert.DoesNotContain('\n', ex.Message);
        Assert.Contains("cannot be recovered", ex.Message, StringComparison.Ordinal);
        Assert.Contains("MoveAsideAndStartEmpty", ex.Message, StringComparison.Ordinal);
        Assert.Contains("is unusable", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MoveAside_of_a_data_directory_that_is_a_mount_point_moves_its_contents_into_it_and_starts_empty()
    {
        using var mount = TmpfsMount.TryCreate(64);
        if (mount is null)
        {
            Assert.Skip("mounting a tmpfs is not permitted here (needs root on Linux)");
        }

        var options = Entries.Options(mount.Path, DurabilityMode.Periodic);
        await using (var store = await EntryStore.OpenAsync(options, cancellationToken: Ct))
        {
            await store.SetAsync(Entries.Key("old"), Entries.Make("old"), cancellationToken: Ct);
        }

        await File.WriteAllTextAsync(Path.Combine(mount.Path, "namespaces.json"), "{}", Ct);
        foreach (var manifest in Directory.GetFiles(Path.Combine(mount.Path, "checkpoints"), "*.manifest"))
        {
            await File.WriteAllTextAsync(manifest, "garbage", Ct);
        }

        options.OnUnrecoverableData = UnrecoverableDataPolicy.MoveAsideAndStartEmpty;
        await using (var store = await EntryStore.OpenAsync(options, cancellationToken: Ct))
        {
            Assert.True(store.Recovery.CreatedNew);
            Assert.Equal(0, store.Count);
            Assert.Equal(mount.Path, Path.GetDirectoryName(store.Recovery.MovedAsideTo)); // inside: a mount point cannot be renamed
            Assert.True(File.Exists(Path.Combine(store.Recovery.MovedAsideTo!, "namespaces.json")));
            await store.SetAsync(Entries.Key("new"), Entries.Make("new"), cancellationToken: Ct);
        }

        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        Assert.Empty(reopened.Recovery.Problems);
        Assert.Equal(1, reopened.Count);
    }
}

/// <summary>When no directory snapshot is usable, the directory is rebuilt from the records.</summary>
public sealed class DirectoryRebuildTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(DurabilityMode.None, false)]
    [InlineData(DurabilityMode.Periodic, false)]
    [InlineData(DurabilityMode.Periodic, true)]
    public async Task Damaged_snapshots_in_every_checkpoint_are_rebuilt_from_the_records_and_nothing_readable_is_lost(DurabilityMode mode, bool crash)
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path, mode);
        var ids = new Dictionary<string, ulong>();
        var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        for (var i = 0; i < 300; i++)
        {
            ids[$"k{i}"] = (await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"p{i}", dimension: 6), cancellationToken: Ct)).Id;
            if (i % 100 == 99)
            {
                await store.CheckpointAsync(Ct);
            }
        }

        await store.DeleteAsync(ids["k5"], Ct);
        ids.Remove("k5");
        await store.SetAsync(Entries.Key("k6"), Entries.Make("p6 again", dimension: 6), cancellationToken: Ct); // replaces k6
        ids.Remove("k6");
        if (crash)
        {
            await store.SimulateCrashAsync(commitLog: true); // the last changes are only in the log
        }
        else
        {
            await store.DisposeAsync();
        }

        foreach (var snapshot in Directory.GetFiles(Path.Combine(dir.Path, "checkpoints"), "directory-*.bin"))
        {
            var bytes = await File.ReadAllBytesAsync(snapshot, Ct);
            bytes[bytes.Length / 2] ^= 0xFF;
            await File.WriteAllBytesAsync(snapshot, bytes, Ct);
        }

        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        Assert.Contains(reopened.Recovery.Problems, p => p.Contains("rebuilt the directory", StringComparison.Ordinal));
        Assert.Equal(299, reopened.Count);
        Assert.Null(await reopened.GetByExactKeyAsync(Entries.Key("k5"), Ct));
        Assert.Equal("p6 again", (await reopened.GetByExactKeyAsync(Entries.Key("k6"), Ct))!.Prompt);
        foreach (var (key, id) in ids)
        {
            Assert.Equal(id, (await reopened.GetByExactKeyAsync(Entries.Key(key), Ct))!.Id);
        }

        Assert.All(reopened.EnumerateLiveIds(), e => Assert.Equal(6, e.VectorDimension));
        Assert.Equal(299, reopened.CountInNamespace("tenant"));
        var fresh = await reopened.SetAsync(Entries.Key("fresh"), Entries.Make("fresh"), cancellationToken: Ct);
        Assert.True(fresh.Id > ids.Values.Max());
    }
}

/// <summary>Damaged small files: one typed line naming the file and what to do.</summary>
public sealed class DamagedFileMessageTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("")]
    [InlineData("\0\0\0\0garbage")]
    [InlineData("semcache-entry-store format=x")]
    public async Task A_damaged_FORMAT_file_fails_with_one_line_naming_the_file_and_the_fix(string content)
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path);
        await using (var store = await EntryStore.OpenAsync(options, cancellationToken: Ct))
        {
            await store.SetAsync(Entries.Key("k"), Entries.Make("p"), cancellationToken: Ct);
        }

        var format = Path.Combine(dir.Path, "FORMAT");
        await File.WriteAllTextAsync(format, content, Ct);

        var ex = await Assert.ThrowsAsync<EntryStoreCorruptedException>(() => EntryStore.OpenAsync(options, cancellationToken: Ct));

        Assert.Contains(format, ex.Message, StringComparison.Ordinal);
        Assert.Contains("semcache-entry-store format=1", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.DoesNotContain('\0', ex.Message);
    }

    [Fact]
    public async Task A_damaged_directory_snapshot_is_named_by_its_path_in_the_report()
    {
        using var dir = new TempDirectory();
        var options = Entries.Options(dir.Path);
        await using (var store = await EntryStore.OpenAsync(options, cancellationToken: Ct))
        {
            await store.SetAsync(Entries.Key("k"), Entries.Make("p"), cancellationToken: Ct);
            await store.CheckpointAsync(Ct);
        }

        var snapshot = Directory.GetFiles(Path.Combine(dir.Path, "checkpoints"), "directory-*.bin").Order(StringComparer.Ordinal).Last();
        var bytes = await File.ReadAllBytesAsync(snapshot, Ct);
        bytes[^1] ^= 1;
        await File.WriteAllBytesAsync(snapshot, bytes, Ct);

        await using var reopened = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        Assert.Contains(reopened.Recovery.Problems, p => p.Contains(snapshot, StringComparison.Ordinal) && p.Contains("checksum", StringComparison.Ordinal));
        Assert.Equal(1, reopened.Count);
    }
}
