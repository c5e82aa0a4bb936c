using Microsoft.Extensions.Options;
using SemCache.Cache;
using SemCache.Embedding;
using SemCache.Index;
using SemCache.Proxy;
using SemCache.Storage;

namespace SemCache.CacheServer.Configuration;

// Each validator states the component's rules with the section and key a failure must name, and reports every
// failure at once; the component's own Validate() (which stops at the first) runs last as a backstop.

/// <summary>Validates <see cref="ServerOptions"/> (section <c>Server</c>).</summary>
internal sealed class ServerOptionsValidator : IValidateOptions<ServerOptions>
{
    public ValidateOptionsResult Validate(string? name, ServerOptions options)
    {
        var failures = new OptionFailures(ServerOptions.SectionName);
        if (!System.Net.IPAddress.TryParse(options.Host, out _) && options.Host != "localhost")
        {
            failures.Add(nameof(options.Host), "must be an IP address (0.0.0.0 for every interface) or 'localhost'", options.Host);
        }

        failures.Range(nameof(options.Port), options.Port, 1, 65535);
        failures.Range(nameof(options.HttpPort), options.HttpPort, 0, 65535);
        if (options.HttpPort != 0 && options.HttpPort == options.Port)
        {
            failures.Add(nameof(options.HttpPort), "must differ from Server:Port (or be 0, off)", options.HttpPort);
        }

        failures.Range(nameof(options.MaxEmbedTexts), options.MaxEmbedTexts, 1, 65_536);
        failures.Range(nameof(options.MaxTextChars), options.MaxTextChars, 1, 16 * 1024 * 1024);
        failures.Range(nameof(options.MaxRequestBytes), options.MaxRequestBytes, 4096, 1 << 30);
        return failures.Result(options.Validate);
    }
}

/// <summary>Validates <see cref="CacheOptions"/> (section <c>Cache</c>).</summary>
internal sealed class CacheOptionsValidator : IValidateOptions<CacheOptions>
{
    public ValidateOptionsResult Validate(string? name, CacheOptions options)
    {
        var failures = new OptionFailures(CacheOptions.SectionName);
        if (!float.IsFinite(options.DefaultThreshold) || options.DefaultThreshold is < -1f or > 1f)
        {
            failures.Add(nameof(options.DefaultThreshold), "must be between -1 and 1", options.DefaultThreshold);
        }

        failures.Range(nameof(options.MaxTopK), options.MaxTopK, 1, 10_000);
        failures.Range(nameof(options.MaxPromptChars), options.MaxPromptChars, 1, 16 << 20);
        failures.Range(nameof(options.MaxResponseChars), options.MaxResponseChars, 1, 64 << 20);
        failures.Range(nameof(options.MaxAttributes), options.MaxAttributes, 0, 1024);
        failures.Range(nameof(options.MaxAttributeKeyChars), options.MaxAttributeKeyChars, 1, 65_536);
        failures.Range(nameof(options.MaxAttributeValueChars), options.MaxAttributeValueChars, 0, 1 << 20);
        failures.Range(nameof(options.MaxMessages), options.MaxMessages, 1, 65_536);
        failures.Range(nameof(options.MaxConversationChars), options.MaxConversationChars, 1, 64 << 20);
        failures.Range(nameof(options.MaxVectorDimension), options.MaxVectorDimension, 1, 65_536);
        failures.Range(nameof(options.MaxSetManyEntries), options.MaxSetManyEntries, 1, 100_000);
        foreach ((string model, ModelPrice price) in options.ModelPrices)
        {
            if (!(price.InputPerMillion >= 0))
            {
                failures.Add($"ModelPrices:{model}:InputPerMillion", "must be a price of 0 or more", price.InputPerMillion);
            }

            if (!(price.OutputPerMillion >= 0))
            {
                failures.Add($"ModelPrices:{model}:OutputPerMillion", "must be a price of 0 or more", price.OutputPerMillion);
            }
        }

        return failures.Result(options.Validate);
    }
}

/// <summary>Validates <see cref="EntryStoreOptions"/> (section <c>Storage</c>).</summary>
internal sealed class StorageOptionsValidator : IValidateOptions<EntryStoreOptions>
{
    public const string SectionName = "Storage";

    public ValidateOptionsResult Validate(string? name, EntryStoreOptions options)
    {
        var failures = new OptionFailures(SectionName);
        if (string.IsNullOrWhiteSpace(options.DataDirectory))
        {
            failures.Add(nameof(options.DataDirectory), "must name a directory (--data-dir)", options.DataDirectory);
        }

        failures.Defined(nameof(options.Durability), options.Durability);
        failures.Range(nameof(options.CommitInterval), options.CommitInterval, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1));
        if (options.CheckpointInterval < TimeSpan.Zero)
        {
            failures.Add(nameof(options.CheckpointInterval), "must not be negative (00:00:00 turns periodic checkpoints off)", options.CheckpointInterval);
        }

        failures.Range(nameof(options.HashIndexSizeBytes), options.HashIndexSizeBytes, 64L << 10, 1L << 40);
        if (options.PageSizeBytes is < 4096 or > 64 << 20 || (options.PageSizeBytes & (options.PageSizeBytes - 1)) != 0)
        {
            failures.Add(nameof(options.PageSizeBytes), "must be a power of two between 4096 and 67108864", options.PageSizeBytes);
        }
        else
        {
            failures.AtLeast(nameof(options.MemoryLogSizeBytes), options.MemoryLogSizeBytes, 4L * options.PageSizeBytes);
            failures.Range(nameof(options.MaxEntryBytes), options.MaxEntryBytes, 256, options.PageSizeBytes / 2);
        }

        failures.AtLeast(nameof(options.MaxEntries), options.MaxEntries, 0);
        failures.AtLeast(nameof(options.MaxBytes), options.MaxBytes, 0);
        failures.Defined(nameof(options.Eviction), options.Eviction);
        failures.Range(nameof(options.EvictionSampleSize), options.EvictionSampleSize, 1, 1024);
        if (options.DefaultTtl <= TimeSpan.Zero)
        {
            failures.Add(nameof(options.DefaultTtl), "must be positive", options.DefaultTtl);
        }

        if (options.MaxTtl < options.DefaultTtl)
        {
            failures.Add(nameof(options.MaxTtl), $"must be at least Storage:DefaultTtl ({options.DefaultTtl})", options.MaxTtl);
        }

        if (options.SweepInterval < TimeSpan.Zero)
        {
            failures.Add(nameof(options.SweepInterval), "must not be negative (00:00:00 turns the sweep off)", options.SweepInterval);
        }

        if (options.LogCompactionRatio != 0 && !(options.LogCompactionRatio >= 1.1))
        {
            failures.Add(nameof(options.LogCompactionRatio), "must be 0 (off) or at least 1.1", options.LogCompactionRatio);
        }

        failures.Defined(nameof(options.OnUnrecoverableData), options.OnUnrecoverableData);
        return failures.Result(options.Validate);
    }
}

/// <summary>Validates <see cref="VectorIndexOptions"/> (section <c>Index</c>; the dimension comes from the model or the vectors).</summary>
internal sealed class IndexOptionsValidator : IValidateOptions<VectorIndexOptions>
{
    public const string SectionName = "Index";

    public ValidateOptionsResult Validate(string? name, VectorIndexOptions options)
    {
        var failures = new OptionFailures(SectionName);
        failures.Range(nameof(options.M), options.M, 2, 256);
        failures.AtLeast(nameof(options.EfConstruction), options.EfConstruction, 1);
        failures.AtLeast(nameof(options.EfSearch), options.EfSearch, 1);
        failures.AtLeast(nameof(options.FlatScanThreshold), options.FlatScanThreshold, 0);
        failures.AtLeast(nameof(options.InitialCapacity), options.InitialCapacity, 0);
        failures.Defined(nameof(options.Quantization), options.Quantization);
        return failures.Result(() => (options with { Dimension = Math.Max(options.Dimension, 1) }).Validate());
    }
}

/// <summary>Validates <see cref="EmbeddingOptions"/> (section <c>Embedding</c>).</summary>
internal sealed class EmbeddingOptionsValidator : IValidateOptions<EmbeddingOptions>
{
    public ValidateOptionsResult Validate(string? name, EmbeddingOptions options)
    {
        var failures = new OptionFailures(EmbeddingOptions.SectionName);
        if (options.ModelPath is not null && string.IsNullOrWhiteSpace(options.ModelPath))
        {
            failures.Add(nameof(options.ModelPath), "must be the path of an ONNX file, or unset for the bundled model", options.ModelPath);
        }

        if (options.ModelPath is not null && options.VocabPath is null)
        {
            failures.Add(nameof(options.VocabPath), "must be set when Embedding:ModelPath is (a custom model needs its vocab.txt)", null);
        }
        else if (options.ModelPath is null && options.VocabPath is not null)
        {
            failures.Add(nameof(options.ModelPath), "must be set when Embedding:VocabPath is (or unset both for the bundled model)", null);
        }

        failures.Range(nameof(options.MaxTokens), options.MaxTokens, 8, 8192);
        failures.Range(nameof(options.IntraOpThreads), options.IntraOpThreads, 0, 1024);
        failures.Range(nameof(options.BatchWindow), options.BatchWindow, TimeSpan.Zero, TimeSpan.FromMilliseconds(100));
        failures.Range(nameof(options.MaxBatchTokens), options.MaxBatchTokens, Math.Max(options.MaxTokens, 1), 1 << 20);
        failures.Range(nameof(options.MaxBatchSize), options.MaxBatchSize, 1, 4096);
        failures.Defined(nameof(options.Pooling), options.Pooling);
        failures.Defined(nameof(options.Precision), options.Precision);
        failures.Defined(nameof(options.ExecutionProvider), options.ExecutionProvider);
        failures.Range(nameof(options.CudaDeviceId), options.CudaDeviceId, 0, 255);
        return failures.Result(options.Validate);
    }
}

/// <summary>Validates <see cref="ProxyOptions"/> (section <c>Proxy</c>, with <c>Proxy:OpenAI</c> and <c>Proxy:Anthropic</c>).</summary>
internal sealed class ProxyOptionsValidator : IValidateOptions<ProxyOptions>
{
    public ValidateOptionsResult Validate(string? name, ProxyOptions options)
    {
        var failures = new OptionFailures(ProxyOptions.SectionName);
        if (!string.IsNullOrEmpty(options.Namespace))
        {
            try
            {
                Partition.CheckNamespace(options.Namespace, "Proxy:Namespace");
            }
            catch (CacheRequestException e)
            {
                failures.Add(nameof(options.Namespace), "must be 1 to 64 characters from [A-Za-z0-9._-] (or empty: default)", e.Field == "" ? options.Namespace : options.Namespace);
            }
        }

        failures.Range(nameof(options.SingleFlightTimeout), options.SingleFlightTimeout, TimeSpan.Zero, TimeSpan.FromHours(1));
        failures.Range(nameof(options.ConnectTimeout), options.ConnectTimeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(10));
        foreach ((string provider, UpstreamOptions upstream) in new[] { (nameof(options.OpenAI), options.OpenAI), (nameof(options.Anthropic), options.Anthropic) })
        {
            if (!Uri.TryCreate(upstream.BaseUrl, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
            {
                failures.Add(provider + ":BaseUrl", "must be an absolute http:// or https:// address without query or fragment, such as https://api.openai.com/v1", upstream.BaseUrl);
            }

            failures.Range(provider + ":Timeout", upstream.Timeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(24));
        }

        return failures.Result(static () => { });
    }
}
