using Xunit;

namespace SemCache.Storage.Tests;

/// <summary>
/// Damage inside the write-ahead log: exactly the damaged record is lost, every readable one after it is replayed, and
/// the report says what was lost. A torn tail (an incomplete last write) is normal after a crash and is not a problem.
/// </summary>
public sealed class WriteAheadLogDamageTests
{
    private const int Count = 40;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Strict Sets (each committed on its own), then a crash: everything is only in the write-ahead log.</summary>
    private static async Task<(EntryStoreOptions Options, string WalFile, List<long> Addresses)> WriteAndCrashAsync(string directory)
    {
        var options = Entries.Options(directory, DurabilityMode.Strict);
        var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        for (var i = 0; i < Count; i++)
        {
            await store.SetAsync(Entries.Key($"k{i}"), Entries.Make($"p{i}", new string('w', 300 + i)), cancellationToken: Ct);
        }

        await store.SimulateCrashAsync(commitLog: true);
        var walFile = Path.Combine(directory, "wal", "wal.log.0");
        return (options, walFile, RecordAddresses(walFile, options));
    }

    /// <summary>Addresses of the operation records, in order, as the store's own reader sees them.</summary>
    private static List<long> RecordAddresses(string walFile, EntryStoreOptions options)
    {
        using var reader = new WriteAheadLogReader(walFile[..^2], System.Numerics.BitOperations.Log2((uint)options.PageSizeBytes), 28, 64, _ => true);
        var addresses = new List<long>();
        for (var item = reader.Next(); item.Kind != WalItemKind.End; item = reader.Next())
        {
            Assert.NotEqual(WalItemKind.Damaged, item.Kind);
            if (item.Kind == WalItemKind.Record)
            {
                addresses.Add(item.Address);
            }
        }

        Assert.Equal(Count, addresses.Count);
        return addresses;
    }

    private static async Task FlipAsync(string file, long offset)
    {
        await using var stream = new FileStream(file, FileMode.Open, FileAccess.ReadWrite);
        stream.Position = offset;
        var b = stream.ReadByte();
        stream.Position = offset;
        stream.WriteByte((byte)(b ^ 0x10));
    }

    private static async Task AssertAllButAsync(EntryStore store, int lost)
    {
        for (var i = 0; i < Count; i++)
        {
            var got = await store.GetByExactKeyAsync(Entries.Key($"k{i}"), Ct);
            if (i == lost)
            {
                Assert.Null(got);
            }
            else
            {
                Assert.True(got is not null, $"entry {i} was readable in the log but not replayed");
                Assert.Equal($"p{i}", got.Prompt);
            }
        }
    }

    [Theory]
    [InlineData(Count / 2, 40)] // a byte inside the middle record's payload
    [InlineData(0, 60)]         // the first record
    [InlineData(Count - 1, 50)] // the last record (a commit record follows it: it was acknowledged)
    [InlineData(Count / 2, 9)]  // the middle record's length field: the reader must find the next record on its own
    [InlineData(Count / 2, 2)]  // the middle record's checksum
    public async Task A_flipped_byte_loses_exactly_that_record_and_the_report_names_it(int record, int byteInRecord)
    {
        using var dir = new TempDirectory();
        var (options, wal, addresses) = await WriteAndCrashAsync(dir.Path);
        await FlipAsync(wal, addresses[record] + byteInRecord);

        await using (var store = await EntryStore.OpenAsync(options, cancellationToken: Ct))
        {
            Assert.Equal(1, store.Recovery.SkippedRecords);
            var problem = Assert.Single(store.Recovery.Problems);
            Assert.Contains($"address {addresses[record]}", problem, StringComparison.Ordinal);
            Assert.Contains(record < Count - 1 ? $"operations {record + 1} to {record + 1}" : $"after sequence number {Count - 1}", problem, StringComparison.Ordinal);
            Assert.Equal(Count - 1, store.Count);
            Assert.Equal(Count - 1, store.Recovery.ReplayedOperations);
            await AssertAllButAsync(store, record);

            // The store keeps working on a fresh log; what it writes now survives the next crash too.
            await store.SetAsync(Entries.Key("after"), Entries.Make("after"), cancellationToken: Ct);
            await store.SimulateCrashAsync(commitLog: true);
        }

        await using var again = await EntryStore.OpenAsync(options, cancellationToken: Ct);
        Assert.Empty(again.Recovery.Problems);
        Assert.Equal(Count, again.Count);
        Assert.NotNull(await again.GetByExactKeyAsync(Entries.Key("after"), Ct));
        await AssertAllButAsync(again, record);
    }

    [Fact]
    public async Task Damage_in_two_records_skips_both_and_reports_each()
    {
        using var dir = new TempDirectory();
        var (options, wal, addresses) = await WriteAndCrashAsync(dir.Path);
        await FlipAsync(wal, addresses[5] + 40);
        await FlipAsync(wal, addresses[30] + 40);

        await using var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        Assert.Equal(2, store.Recovery.SkippedRecords);
        Assert.Equal(2, store.Recovery.Problems.Count);
        Assert.Contains(store.Recovery.Problems, p => p.Contains($"address {addresses[5]}", StringComparison.Ordinal));
        Assert.Contains(store.Recovery.Problems, p => p.Contains($"address {addresses[30]}", StringComparison.Ordinal));
        Assert.Equal(Count - 2, store.Count);
    }

    [Fact]
    public async Task A_torn_last_write_is_reported_as_a_torn_tail_not_as_a_problem()
    {
        using var dir = new TempDirectory();
        var (options, wal, addresses) = await WriteAndCrashAsync(dir.Path);
        using (var stream = new FileStream(wal, FileMode.Open))
        {
            stream.SetLength(addresses[^1] + 100); // the last record and the commit after it never reached the disk
        }

        await using var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        Assert.Empty(store.Recovery.Problems);
        Assert.Equal(0, store.Recovery.SkippedRecords);
        Assert.NotNull(store.Recovery.TornTail);
        Assert.Contains($"address {addresses[^1]}", store.Recovery.TornTail, StringComparison.Ordinal);
        Assert.Equal(Count - 1, store.Count);
        await AssertAllButAsync(store, Count - 1);
    }

    [Fact]
    public async Task A_clean_log_reports_no_torn_tail_and_no_skipped_records()
    {
        using var dir = new TempDirectory();
        var (options, _, _) = await WriteAndCrashAsync(dir.Path);

        await using var store = await EntryStore.OpenAsync(options, cancellationToken: Ct);

        Assert.Empty(store.Recovery.Problems);
        Assert.Null(store.Recovery.TornTail);
        Assert.Equal(0, store.Recovery.SkippedRecords);
        Assert.Equal(Count, store.Recovery.ReplayedOperations);
        await AssertAllButAsync(store, -1);
    }
}
