using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/SemCache.Benchmarks -- --filter '*'
// (BenchmarkDotNet's own flags; see docs/benchmarks.md for the runs we publish.)
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
