using System.Globalization;
using Microsoft.Extensions.Options;

namespace SemCache.CacheServer.Configuration;

/// <summary>Collects every failure of one configuration section, each as <c>Section:Key must …, got value</c>.</summary>
internal sealed class OptionFailures(string section)
{
    private readonly List<string> _failures = [];

    public void Add(string key, string rule, object? value) =>
        _failures.Add(string.Create(CultureInfo.InvariantCulture, $"{section}:{key} {rule}, got {Format(value)}"));

    public void Range<T>(string key, T value, T min, T max)
        where T : IComparable<T>
    {
        if (value.CompareTo(min) < 0 || value.CompareTo(max) > 0)
        {
            Add(key, string.Create(CultureInfo.InvariantCulture, $"must be between {min} and {max}"), value);
        }
    }

    public void AtLeast<T>(string key, T value, T min)
        where T : IComparable<T>
    {
        if (value.CompareTo(min) < 0)
        {
            Add(key, string.Create(CultureInfo.InvariantCulture, $"must be at least {min}"), value);
        }
    }

    public void Defined<TEnum>(string key, TEnum value)
        where TEnum : struct, Enum
    {
        if (!Enum.IsDefined(value))
        {
            Add(key, $"must be one of {string.Join(", ", Enum.GetNames<TEnum>())}", value);
        }
    }

    /// <summary>
    /// The result: every failure found here; or, when there is none, whatever the component's own Validate() still
    /// rejects (a rule added there and not yet here is reported too, prefixed with the section).
    /// </summary>
    public ValidateOptionsResult Result(Action componentValidate)
    {
        if (_failures.Count == 0)
        {
            try
            {
                componentValidate();
            }
            catch (ArgumentException e)
            {
                _failures.Add(e.Message.StartsWith(section + ":", StringComparison.Ordinal) ? e.Message : $"{section}: {e.Message}");
            }
        }

        return _failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(_failures);
    }

    private static string Format(object? value) => value switch
    {
        null => "nothing",
        string s => $"'{s}'",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
