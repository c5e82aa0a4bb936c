using SemCache.Embedding;

namespace SemCache.Evaluation;

/// <summary>The flags every command shares: <c>--precision Float32|Int8</c> and <c>--model path</c>.</summary>
internal static class ModelFlags
{
    /// <summary>Reads the shared flags into embedding options and leaves the command's own arguments in <paramref name="args"/>.</summary>
    public static EmbeddingOptions Take(ref string[] args)
    {
        var options = new EmbeddingOptions();
        var rest = new List<string>(args.Length);
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--precision" when i + 1 < args.Length:
                    options.Precision = Enum.Parse<ModelPrecision>(args[++i], ignoreCase: true);
                    break;
                case "--model" when i + 1 < args.Length:
                    options.ModelPath = args[++i];
                    options.VocabPath = Path.Combine(AppContext.BaseDirectory, "models", EmbeddingOptions.DefaultModelName, "vocab.txt");
                    options.ModelName = EmbeddingOptions.DefaultModelName;
                    break;
                default:
                    rest.Add(args[i]);
                    break;
            }
        }

        args = [.. rest];
        return options;
    }
}
