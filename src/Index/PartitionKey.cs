using System.Globalization;
using System.IO.Hashing;
using System.Text;

namespace SemCache.Index;

/// <summary>
/// Names a partition of a <see cref="PartitionedIndex"/>: a 128-bit value, typically a hash of namespace, attributes
/// and conversation context. 128 bits make accidental collisions between distinct strings negligible.
/// </summary>
/// <param name="Value">The 128-bit key.</param>
public readonly record struct PartitionKey(UInt128 Value)
{
    /// <summary>Key of a string: XxHash128 of its UTF-8 bytes.</summary>
    /// <param name="name">Any string, e.g. "tenant/model/context".</param>
    /// <returns>The key.</returns>
    public static PartitionKey FromString(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return new PartitionKey(XxHash128.HashToUInt128(Encoding.UTF8.GetBytes(name)));
    }

    /// <inheritdoc />
    public override string ToString() => Value.ToString("x32", CultureInfo.InvariantCulture);
}
