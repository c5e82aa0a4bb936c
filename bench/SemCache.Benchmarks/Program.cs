using BenchmarkDotNet.Running;
using SemCache.Benchmarks;

// dotnet run -c Release --project bench/SemCache.Benchmarks -- --filter '*'
// (BenchmarkDotNet's own flags; see docs/benchmarks.md for the runs we publish.)
// dotnet run -c Release --project bench/SemCache.Benchmarks -- recovery [entries] [partitions]
// (the engine's open time over a data directory of that many entries: one measurement per open, not BenchmarkDotNet.)
// dotnet run -c Release --project bench/SemCache.Benchmarks -- bulk [qqp-dev.tsv] [questions] [batch]
// (SetMany bulk-load throughput with the model embedding every prompt.)
// dotnet run -c Release --project bench/SemCache.Benchmarks -- memory [--entries 100000,1000000] [--quantization Float32|Int8] [--durability Periodic]
// (memory per entry: RSS, GC heap and the store's and index's layers at each count; see docs/benchmarks.md.)
if (args.Length > 0 && args[0] == "recovery")
{
    return await EngineRecoveryRun.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "bulk")
{
    return await BulkLoadRun.RunAsync(args[1..]);
}

if (args.Length > 0 && args[0] == "memory")
{
    return await MemoryRun.RunAsync(args[1..]);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
