using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Options;
using SemCache.Cache;
using SemCache.Embedding;
using SemCache.Index;
using SemCache.Storage;

namespace SemCache.CacheServer.Configuration;

/// <summary>
/// Checks the whole configuration before anything starts and reports every problem at once, each naming its
/// <c>Section:Key</c>: keys no option has (a typo would otherwise be ignored), values that cannot be read as their
/// option's type (an enum lists its values), then every option's rules, through the same
/// <see cref="IValidateOptions{TOptions}"/> validators that <c>ValidateOnStart</c> runs.
/// </summary>
internal static class ConfigurationCheck
{
    /// <summary>Throws <see cref="StartupException"/> listing every problem, or returns when there is none.</summary>
    public static void ThrowIfInvalid(IConfiguration configuration)
    {
        List<string> failures = ReadFailures(configuration);
        if (failures.Count == 0)
        {
            Add(failures, new ServerOptionsValidator().Validate(null, Bind<ServerOptions>(configuration, ServerOptions.SectionName)));
            Add(failures, new CacheOptionsValidator().Validate(null, Bind<CacheOptions>(configuration, CacheOptions.SectionName)));
            Add(failures, new StorageOptionsValidator().Validate(null, Bind<EntryStoreOptions>(configuration, StorageOptionsValidator.SectionName)));
            Add(failures, new IndexOptionsValidator().Validate(null, configuration.GetSection(IndexOptionsValidator.SectionName).Get<VectorIndexOptions>() ?? new VectorIndexOptions { Dimension = 1 }));
            Add(failures, new EmbeddingOptionsValidator().Validate(null, Bind<EmbeddingOptions>(configuration, EmbeddingOptions.SectionName)));
            Add(failures, new ProxyOptionsValidator().Validate(null, Bind<Proxy.ProxyOptions>(configuration, Proxy.ProxyOptions.SectionName)));
            Add(failures, new Telemetry.ObservabilityOptionsValidator().Validate(null, Bind<Telemetry.ObservabilityOptions>(configuration, Telemetry.ObservabilityOptions.SectionName)));
        }

        if (failures.Count > 0)
        {
            throw new StartupException("invalid configuration: " + string.Join("; ", failures));
        }
    }

    private static T Bind<T>(IConfiguration configuration, string section)
        where T : class, new() => configuration.GetSection(section).Get<T>() ?? new T();

    private static void Add(List<string> failures, ValidateOptionsResult result)
    {
        if (result.Failed)
        {
            failures.AddRange(result.Failures ?? [result.FailureMessage]);
        }
    }

    /// <summary>Keys that are no option, and values the binder could not convert (it would throw at the first).</summary>
    private static List<string> ReadFailures(IConfiguration configuration)
    {
        var failures = new List<string>();
        foreach ((string section, Type type) in OptionCatalog.Sections)
        {
            Dictionary<string, PropertyInfo> options = OptionCatalog.Properties(type);
            foreach (IConfigurationSection child in configuration.GetSection(section).GetChildren())
            {
                string key = $"{section}:{child.Key}";
                if (OptionCatalog.Sections.Any(s => string.Equals(s.Section, key, StringComparison.OrdinalIgnoreCase)))
                {
                    continue; // a nested section (Proxy:OpenAI), checked as a section of its own
                }

                if (!options.TryGetValue(child.Key, out PropertyInfo? option))
                {
                    failures.Add($"{key} is not an option (the {section} options: {string.Join(", ", options.Values.Select(p => p.Name))})");
                }
                else if (option.PropertyType == typeof(Dictionary<string, ModelPrice>))
                {
                    ModelPriceFailures(child, key, failures);
                }
                else if (ValueFailure(child, key, option.PropertyType) is string failure)
                {
                    failures.Add(failure);
                }
            }
        }

        return failures;
    }

    private static void ModelPriceFailures(IConfigurationSection prices, string key, List<string> failures)
    {
        Dictionary<string, PropertyInfo> fields = OptionCatalog.Properties(typeof(ModelPrice));
        foreach (IConfigurationSection model in prices.GetChildren())
        {
            foreach (IConfigurationSection price in model.GetChildren())
            {
                string priceKey = $"{key}:{model.Key}:{price.Key}";
                if (!fields.TryGetValue(price.Key, out PropertyInfo? field))
                {
                    failures.Add($"{priceKey} is not an option (a model's price has {string.Join(" and ", fields.Values.Select(p => p.Name))})");
                }
                else if (ValueFailure(price, priceKey, field.PropertyType) is string failure)
                {
                    failures.Add(failure);
                }
            }
        }
    }

    private static string? ValueFailure(IConfigurationSection entry, string key, Type type)
    {
        if (entry.Value is null)
        {
            return entry.GetChildren().Any() ? $"{key} takes a single value, not a section" : null;
        }

        Type target = Nullable.GetUnderlyingType(type) ?? type;
        if (target.IsEnum)
        {
            return Enum.TryParse(target, entry.Value, ignoreCase: true, out object? parsed) && Enum.IsDefined(target, parsed!)
                ? null
                : $"{key} must be one of {string.Join(", ", Enum.GetNames(target))}, got '{entry.Value}'";
        }

        try
        {
            // The converter the configuration binder itself uses, so what passes here binds.
            _ = TypeDescriptor.GetConverter(target).ConvertFromInvariantString(entry.Value);
            return null;
        }
#pragma warning disable CA1031 // converters throw Exception itself for some formats; any failure is the same answer
        catch (Exception)
#pragma warning restore CA1031
        {
            return $"{key} must be {Describe(target)}, got '{entry.Value}'";
        }
    }

    private static string Describe(Type type) =>
        type == typeof(int) || type == typeof(long) ? "a whole number"
        : type == typeof(double) || type == typeof(float) ? "a number"
        : type == typeof(bool) ? "true or false"
        : type == typeof(TimeSpan) ? "a time span such as 00:00:00.100 (hh:mm:ss.fff) or 1.00:00:00 (one day)"
        : "a " + type.Name;
}
