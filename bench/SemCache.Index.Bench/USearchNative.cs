using System.Reflection;
using System.Runtime.InteropServices;
using Cloud.Unum.USearch;

namespace SemCache.Index.Bench;

/// <summary>
/// Entry points of libusearch_c that the C# binding (2.26.6) does not expose: changing efSearch on a built index,
/// thread counts for concurrent add/search, capacity reservation and memory usage.
/// </summary>
internal static partial class USearchNative
{
    private const string Library = "libusearch_c";

    [LibraryImport(Library, EntryPoint = "usearch_change_expansion_search")]
    private static partial void ChangeExpansionSearch(nint index, nuint expansion, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_change_threads_add")]
    private static partial void ChangeThreadsAdd(nint index, nuint threads, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_change_threads_search")]
    private static partial void ChangeThreadsSearch(nint index, nuint threads, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_reserve")]
    private static partial void Reserve(nint index, nuint capacity, out nint error);

    [LibraryImport(Library, EntryPoint = "usearch_memory_usage")]
    private static partial nuint MemoryUsage(nint index, out nint error);

    private static nint Handle(USearchIndex index) =>
        (nint)typeof(USearchIndex).GetField("_index", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(index)!;

    private static void Check(nint error)
    {
        if (error != 0)
        {
            throw new InvalidOperationException("usearch: " + Marshal.PtrToStringUTF8(error));
        }
    }

    public static void SetExpansionSearch(USearchIndex index, int ef)
    {
        ChangeExpansionSearch(Handle(index), (nuint)ef, out nint e);
        Check(e);
    }

    public static void PrepareForThreads(USearchIndex index, int capacity, int threads)
    {
        nint h = Handle(index);
        Reserve(h, (nuint)capacity, out nint e);
        Check(e);
        ChangeThreadsAdd(h, (nuint)threads, out e);
        Check(e);
        ChangeThreadsSearch(h, (nuint)threads, out e);
        Check(e);
    }

    public static long Memory(USearchIndex index)
    {
        nuint bytes = MemoryUsage(Handle(index), out nint e);
        Check(e);
        return (long)bytes;
    }
}
