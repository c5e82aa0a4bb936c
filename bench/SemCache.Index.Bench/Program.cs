using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Running;
using SemCache.Index;
using SemCache.Index.Bench;

// Commands:
//   micro [BenchmarkDotNet args]      dot-product kernels (TensorPrimitives vs Vector256 vs Vector512, int8)
//   embed                             embed the distinct QQP questions once into data/qqp-questions.vec
//   recall [--no-usearch] [--no-int8] [--questions N] [--ef 16,32,64] [--no-churn]
//                                     recall@10 vs QPS across efSearch on the QQP vectors, side by side; --questions N
//                                     embeds and uses only the first N distinct questions (a short run), --ef the steps
//   crossover                         flat scan vs HNSW latency by partition size (sets FlatScanThreshold)
//   partitions [--questions N] [P] [V] P small partitions of V vectors (default 20,000 x 8): search cost, then emptied
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
        await Datasets.LoadOrEmbedQqpAsync(qqpTsv, OptionValue(rest, "--questions") is { } limit ? int.Parse(limit, CultureInfo.InvariantCulture) : 0);
        break;

    case "recall":
    {
        int questions = OptionValue(rest, "--questions") is { } qText ? int.Parse(qText, CultureInfo.InvariantCulture) : 0;
        int[] efValues = OptionValue(rest, "--ef") is { } efText
            ? [.. efText.Split(',').Select(e => int.Parse(e, CultureInfo.InvariantCulture))]
            : RecallBench.EfValues;
        VectorSet all = await Datasets.LoadOrEmbedQqpAsync(qqpTsv, questions);
        (VectorSet data, VectorSet queries) = all.Split(1000, seed: 42);
        string title = questions > 0
            ? string.Create(CultureInfo.InvariantCulture, $"QQP questions, first {all.Count:N0} distinct (all-MiniLM-L6-v2 embeddings)")
            : "QQP questions (all-MiniLM-L6-v2 embeddings)";
        string report = RecallBench.Run(
            title, data, queries, m: 16, efConstruction: 200,
            withUSearch: !rest.Contains("--no-usearch"), withInt8: !rest.Contains("--no-int8"), withFlat: true,
            efValues, Path.Combine(Datasets.DataDirectory, "qqp.snap"), churn: !rest.Contains("--no-churn"));
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

    case "partitions":
    {
        int questionLimit = OptionValue(rest, "--questions") is { } qText ? int.Parse(qText, CultureInfo.InvariantCulture) : 0;
        string[] numbers = [.. rest.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (i == 0 || rest[i - 1] != "--questions"))];
        int partitions = numbers.Length > 0 ? int.Parse(numbers[0], CultureInfo.InvariantCulture) : 20_000;
        int perPartition = numbers.Length > 1 ? int.Parse(numbers[1], CultureInfo.InvariantCulture) : 8;
        VectorSet all = await Datasets.LoadOrEmbedQqpAsync(qqpTsv, questionLimit);
        string report = PartitionChurn.Run(all, partitions, perPartition);
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
        Console.Error.WriteLine($"unknown command {command}; use micro | embed | recall | crossover | partitions | scale [N]");
        return 2;
}

return 0;

// The value after a "--name" option, or null when the option is absent.
static string? OptionValue(string[] args, string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
