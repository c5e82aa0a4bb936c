// Crash-test host. Usage: CrashHost <dataDirectory> <Strict|Periodic|None> <writers> <delayMs> [commitIntervalMs]
// Opens the store, prints "READY", then each writer sets entries "w<writer>-<n>" forever and prints
// "ACK <writer> <n> <id>" once SetAsync has returned (i.e. the Set is acknowledged). The test kills it with SIGKILL.
using System.Globalization;
using System.Text;
using SemCache.Storage;

var directory = args[0];
var mode = Enum.Parse<DurabilityMode>(args[1]);
var writers = int.Parse(args[2], CultureInfo.InvariantCulture);
var delayMs = int.Parse(args[3], CultureInfo.InvariantCulture);
var commitMs = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 100;

var store = await EntryStore.OpenAsync(new EntryStoreOptions
{
    DataDirectory = directory,
    Durability = mode,
    CommitInterval = TimeSpan.FromMilliseconds(commitMs),
    CheckpointInterval = TimeSpan.FromMilliseconds(700), // checkpoints race with the writes and the kill, on purpose
    MemoryLogSizeBytes = 1 << 20,
    PageSizeBytes = 1 << 16,
    MaxEntryBytes = 16 << 10,
    HashIndexSizeBytes = 1 << 20,
});

var output = Console.Out;
var gate = new Lock();
lock (gate)
{
    output.WriteLine("READY");
    output.Flush();
}

var response = new string('r', 1024);
var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
{
    for (var n = 0; ; n++)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"w{w}-{n}");
        var result = await store.SetAsync(
            new ExactKey(7, Encoding.UTF8.GetBytes(name)),
            new CacheEntry { Namespace = "crash", Prompt = name, Response = response, Vector = new float[] { w, n } });
        lock (gate)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ACK {w} {n} {result.Id}"));
            output.Flush();
        }

        if (delayMs > 0)
        {
            await Task.Delay(delayMs);
        }
    }
})).ToArray();

await Task.WhenAll(tasks);
