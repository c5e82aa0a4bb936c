using System.Globalization;

namespace SemCache.Index;

/// <summary>
/// Settings shared by every partition of a <see cref="PartitionedIndex"/> and by a standalone <see cref="HnswIndex"/>.
/// Every property has a default chosen from measurements on 384-dimensional sentence embeddings (see
/// <c>bench/SemCache.Index.Bench/RESULTS.md</c>).
/// </summary>
public sealed record VectorIndexOptions
{
    /// <summary>Default <see cref="M"/>: 16 links per node above level 0, 32 at level 0.</summary>
    public const int DefaultM = 16;

    /// <summary>Default <see cref="EfConstruction"/>.</summary>
    public const int DefaultEfConstruction = 200;

    /// <summary>Default <see cref="EfSearch"/>.</summary>
    public const int DefaultEfSearch = 64;

    /// <summary>Default <see cref="FlatScanThreshold"/>.</summary>
    public const int DefaultFlatScanThreshold = 2048;

    /// <summary>Default <see cref="InitialCapacity"/>.</summary>
    public const int DefaultInitialCapacity = 0;

    /// <summary>
    /// Number of components of every vector. Required (no default); must be at least 1. Vectors of any other length
    /// are rejected with an <see cref="ArgumentException"/>.
    /// </summary>
    public required int Dimension { get; init; }

    /// <summary>
    /// HNSW <c>M</c> (Malkov &amp; Yashunin): the number of links a node keeps on each level above 0; level 0 keeps
    /// <c>2·M</c>. Default 16. Larger values raise recall and memory (4·(2M+1) bytes per vector at level 0).
    /// </summary>
    public int M { get; init; } = DefaultM;

    /// <summary>HNSW <c>efConstruction</c>: the candidate list size while inserting. Default 200.</summary>
    public int EfConstruction { get; init; } = DefaultEfConstruction;

    /// <summary>
    /// HNSW <c>efSearch</c>: the candidate list size while searching, used when a search does not give its own
    /// (it is raised to <c>k</c> when <c>k</c> is larger). Default 64.
    /// </summary>
    public int EfSearch { get; init; } = DefaultEfSearch;

    /// <summary>
    /// In a <see cref="PartitionedIndex"/>, a partition holding fewer live vectors than this is searched by an exact
    /// flat scan; when an insert brings it to this size it is rebuilt into an HNSW graph (synchronously, in the inserting
    /// call). Default 2048: on 384-dimensional embeddings a scan (about 26 ns per vector with AVX-512) costs what an
    /// efSearch-64 graph search costs at about 2,300 vectors, and below that it is both faster and exact (see
    /// bench/SemCache.Index.Bench/RESULTS.md). 0 makes every partition a graph from its first vector.
    /// </summary>
    public int FlatScanThreshold { get; init; } = DefaultFlatScanThreshold;

    /// <summary>How HNSW graphs store their vectors. Default <see cref="VectorQuantization.None"/> (32-bit floats).</summary>
    public VectorQuantization Quantization { get; init; } = VectorQuantization.None;

    /// <summary>
    /// Number of vectors a new <see cref="HnswIndex"/> reserves room for. Default 0 (storage grows in blocks as vectors
    /// arrive; it never moves, so growth does not pause searches).
    /// </summary>
    public int InitialCapacity { get; init; } = DefaultInitialCapacity;

    /// <summary>
    /// With <see cref="VectorQuantization.Int8"/>: a directory where the exact float vectors used for rescoring are
    /// kept in memory-mapped, delete-on-close files instead of on the heap. Default <see langword="null"/> (in memory).
    /// </summary>
    public string? RescoreStorageDirectory { get; init; }

    /// <summary>
    /// Seed of the level generator (HNSW draws each node's top level at random). Default 42, so that a build from
    /// the same inserts in the same order gives the same graph.
    /// </summary>
    public ulong RandomSeed { get; init; } = 42;

    /// <summary>Checks every value and throws <see cref="ArgumentOutOfRangeException"/> naming the first bad one.</summary>
    public void Validate()
    {
        Check(Dimension >= 1, nameof(Dimension), Dimension, "must be at least 1");
        Check(M is >= 2 and <= 256, nameof(M), M, "must be between 2 and 256");
        Check(EfConstruction >= 1, nameof(EfConstruction), EfConstruction, "must be at least 1");
        Check(EfSearch >= 1, nameof(EfSearch), EfSearch, "must be at least 1");
        Check(FlatScanThreshold >= 0, nameof(FlatScanThreshold), FlatScanThreshold, "must not be negative");
        Check(InitialCapacity >= 0, nameof(InitialCapacity), InitialCapacity, "must not be negative");
        Check(Enum.IsDefined(Quantization), nameof(Quantization), (int)Quantization, "is not a known quantization");
    }

    private static void Check(bool ok, string name, int value, string rule)
    {
        if (!ok)
        {
            throw new ArgumentOutOfRangeException(name, value, string.Create(CultureInfo.InvariantCulture, $"VectorIndexOptions.{name} {rule}."));
        }
    }

    internal VectorIndexOptions With(VectorQuantization quantization) => new()
    {
        Dimension = Dimension,
        M = M,
        EfConstruction = EfConstruction,
        EfSearch = EfSearch,
        FlatScanThreshold = FlatScanThreshold,
        Quantization = quantization,
        InitialCapacity = InitialCapacity,
        RescoreStorageDirectory = RescoreStorageDirectory,
        RandomSeed = RandomSeed,
    };
}
