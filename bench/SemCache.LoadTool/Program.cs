using Grpc.Core;
using SemCache.LoadTool;
using SemCache.LoadTool.Commands;

// semcache-bench: load and answer-quality benchmarks of a running SemCache server, over gRPC.
//
// Start a server first (from the repository root):
//   dotnet build src/CacheServer -c Release
//   dotnet artifacts/bin/SemCache.CacheServer/release/semcache-server.dll --port 50051 --http-port 8080 --data-dir /tmp/semcache-bench
// then (dotnet run -c Release --project bench/SemCache.LoadTool -- <command> ..., or the built semcache-bench):
//   pairs      preload q1 of a labelled pair file, look each q2 up once: correct/wrong hits, misses, precision, recall, latency
//                semcache-bench pairs --limit 5000 --threshold 0.9 --concurrency 8
//   exact      repeated verbatim lookups of preloaded prompts (the exact layer)
//                semcache-bench exact --duration 10 --concurrency 16
//   mixed      a Zipf stream of repeats, paraphrases and new prompts, with a Set on every miss
//                semcache-bench mixed --duration 30 --zipf 1.0 --new-fraction 0.2 --paraphrase-fraction 0.3
//   calibrate  the precision/recall/F1 curve over every threshold and the threshold reaching a target precision
//                semcache-bench calibrate --limit 5000 --target-precision 0.95
//   gptcache   GPTCache's published benchmark (999 paraphrase pairs) through SemCache, side by side with its table
//                semcache-bench gptcache
// The side-by-side run (bench/side-by-side.sh drives these; see bench/SemCache.LoadTool/RESULTS.md):
//   texts --out DIR                    stored.txt (2,000 q1s), queries.txt, bulk.txt, mixed.txt from qqp-dev.tsv
//   preload --texts F --namespace NS --keep-namespace      SetMany of a texts file into a shared namespace
//   unique-gets --texts F [--offset O] [--take N]          one Get per text, none stored, none repeated
//   embed --texts F [--offset O] [--take N]                the Embed RPC, one text a call
//   bulk --texts F [--batch 500] [--concurrency 2]         SetMany bulk load: entries/s
//   knee --texts F [--concurrency 64] [--step-seconds 8]   mixed 70/30 Get/Set at fixed rates stepping up to the knee
//   grpc-body --namespace NS --texts F --line N --out FILE a gRPC-framed GetRequest for h2load, checked to be an exact hit
//   stats [--namespace NS]             the server's counters as JSON
//   side-by-side-report DIR            summary.md (the issue-10 table), summary.json, side-by-side.png, knee.png
//   verify DIR...                      check result folders (used by smoke.sh)
//   free-port | wait-ready --http-port P   helpers for scripts
//
// Common flags: --server URL (or --port N; default http://127.0.0.1:50051), --pairs FILE (default ../shared/data/...),
// --limit N (first N rows), --concurrency N (default 8), --rate R (fixed rate, requests/s, latency from the intended
// send time), --duration S | --count N (exact, mixed), --warmup S (default 2, excluded), --threshold T (default 0.9),
// --top-k K (default 1), --namespace NS (default a new bench-<command>-<time>-<random>, deleted at the end unless
// --keep-namespace), --out DIR (default bench/SemCache.LoadTool/results/<command>-<time>), --seed N, --no-progress.
// Outputs in --out: result.json, summary.md, latency.png, and precision-recall.png for pairs, calibrate and gptcache.
using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancellation.Cancel();
};

string command = args.Length > 0 ? args[0] : "help";
string[] rest = args.Length > 0 ? args[1..] : [];
try
{
    return command switch
    {
        "pairs" => await PairsCommand.RunAsync(rest, cancellation.Token),
        "exact" => await ExactCommand.RunAsync(rest, cancellation.Token),
        "mixed" => await MixedCommand.RunAsync(rest, cancellation.Token),
        "calibrate" => await CalibrateCommand.RunAsync(rest, cancellation.Token),
        "gptcache" => await GptCacheCommand.RunAsync(rest, cancellation.Token),
        "texts" => TextsCommand.Run(rest),
        "preload" => await PreloadCommand.RunAsync(rest, cancellation.Token),
        "unique-gets" => await UniqueGetsCommand.RunAsync(rest, cancellation.Token),
        "embed" => await EmbedCommand.RunAsync(rest, cancellation.Token),
        "bulk" => await BulkCommand.RunAsync(rest, cancellation.Token),
        "knee" => await KneeCommand.RunAsync(rest, cancellation.Token),
        "grpc-body" => await GrpcBodyCommand.RunAsync(rest, cancellation.Token),
        "stats" => await StatsCommand.RunAsync(rest, cancellation.Token),
        "side-by-side-report" => SideBySideReportCommand.Run(rest),
        "verify" => VerifyCommand.Run(rest),
        "free-port" => VerifyCommand.FreePort(),
        "wait-ready" => await VerifyCommand.WaitReadyAsync(rest),
        "help" or "--help" or "-h" => Usage(0),
        _ => throw new UsageException($"unknown command '{command}'"),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine($"semcache-bench: {e.Message}");
    return Usage(2);
}
catch (Exception e) when (e is FileNotFoundException or FormatException)
{
    Console.Error.WriteLine($"semcache-bench: {e.Message}");
    return 2;
}
catch (RpcException e)
{
    Console.Error.WriteLine($"semcache-bench: the server answered {e.StatusCode}: {e.Status.Detail}");
    return 1;
}
catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
{
    Console.Error.WriteLine("semcache-bench: cancelled");
    return 130;
}

static int Usage(int exitCode)
{
    TextWriter writer = exitCode == 0 ? Console.Out : Console.Error;
    writer.WriteLine("usage: semcache-bench <pairs|exact|mixed|calibrate|gptcache> [flags]   (see bench/SemCache.LoadTool/RESULTS.md)");
    writer.WriteLine("       semcache-bench <texts|preload|unique-gets|embed|bulk|knee|grpc-body|stats|side-by-side-report> (bench/side-by-side.sh)");
    writer.WriteLine("       semcache-bench verify DIR... | free-port | wait-ready --http-port P [--timeout S]");
    writer.WriteLine("flags: --server URL | --port N, --pairs FILE, --limit N, --concurrency N, --rate R, --duration S | --count N,");
    writer.WriteLine("       --warmup S, --threshold T, --top-k K, --target-precision P (calibrate), --zipf S, --new-fraction F,");
    writer.WriteLine("       --paraphrase-fraction F (mixed), --exact-only (exact), --no-check (gptcache), --namespace NS,");
    writer.WriteLine("       --keep-namespace, --out DIR, --seed N, --no-progress, --preload-batch N, --preload-concurrency N");
    return exitCode;
}
