using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Running;
using SemCache.Index;
using SemCache.Index.Bench;

// Commands:
//   micro [BenchmarkDotNet args]      dot-product kernels (TensorPrimitives vs Vector256 vs Vector512, int8)
//   embed                             embed the distinct QQP questions once into data/qqp-questions.vec
//   recall [--no-usearch] [--no-int8] recall@10 vs QPS across efSearch on the QQP vectors, side by side
//   crossover                         flat scan vs HNSW latency by partition size (sets FlatScanThreshold)
//   scale [N]                         N synthetic 384-d unit vectors (default 1,000,000): build, memory, recall, QPS, snapshot
string command = args.Length > 0 ? args[0] : "recall";
string[] rest = args.Length > 1 ? args[1..] : [];
string qqpTsv = Environment.GetEnvironmentVariable("QQP_TSV") ?? "/work/shared/data/qqp-dev.tsv";
string resultsPath = command == "micro" ? "" : Path.Combine(Datasets.DataDirectory, "results-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + ".md");

switch (command)
{
    case "micro":
        BenchmarkSwitcher.FromAssembly(typeof(DotBenchmarks).Assembly).Run(rest);
        break;

    case "embed":
        await Datasets.LoadOrEmbedQqpAsync(qqpTsv);
        break;

    case "recall":
    {
        VectorSet all = await Datasets.LoadOrEmbedQqpAsync(qqpTsv);
        (VectorSet data, VectorSet queries) = all.Split(1000, seed: 42);
        string report = RecallBench.Run(
            "QQP questions (all-MiniLM-L6-v2 embeddings)", data, queries, m: 16, efConstruction: 200,
            withUSearch: !rest.Contains("--no-usearch"), withInt8: !rest.Contains("--no-int8"), withFlat: true,
            RecallBench.EfValues, Path.Combine(Datasets.DataDirectory, "qqp.snap"));
        File.WriteAllText(resultsPath, report);
        Console.WriteLine($"written {resultsPath}");
        break;
    }

    case "crossover":
    {
        VectorSet all = File.Exists(Datasets.QqpVectorsPath) ? Datasets.Read(Datasets.QqpVectorsPath) : Datasets.Synthetic(70_000, 384, 500, 3);
        string report = Crossover.Run(all);
        File.WriteAllText(resultsPath, report);
        Console.WriteLine($"written {resultsPath}");
        break;
    }

    case "scale":
    {
        int n = rest.Length > 0 ? int.Parse(rest[0], CultureInfo.InvariantCulture) : 1_000_000;
        var sw = Stopwatch.StartNew();
        VectorSet all = Datasets.Synthetic(n + 1000, 384, clusters: Math.Max(100, n / 1000), seed: 11);
        Console.WriteLine($"generated {n + 1000} synthetic vectors in {sw.Elapsed.TotalSeconds:F1} s");
        (VectorSet data, VectorSet queries) = all.Split(1000, seed: 42);
        string report = RecallBench.Run(
            string.Create(CultureInfo.InvariantCulture, $"{n:N0} synthetic clustered 384-d unit vectors"), data, queries, m: 16, efConstruction: 200,
            withUSearch: rest.Contains("--usearch"), withInt8: rest.Contains("--int8"), withFlat: true,
            [10, 16, 32, 64, 128, 256], Path.Combine(Datasets.DataDirectory, "scale.snap"), churn: rest.Contains("--churn"));
        File.WriteAllText(resultsPath, report);
        Console.WriteLine($"written {resultsPath}");
        break;
    }

    default:
        Console.Error.WriteLine($"unknown command {command}; use micro | embed | recall | crossover | scale [N]");
        return 2;
}

return 0;
