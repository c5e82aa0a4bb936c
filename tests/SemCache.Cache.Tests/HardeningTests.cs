using System.Collections.Concurrent;
using SemCache.Embedding;
using SemCache.Storage;

namespace SemCache.Cache.Tests;

/// <summary>
/// Faults and edge cases found by testing the engine from outside: crashes during checkpoints, restarts in every
/// durability mode, damaged files, non-atomic batches, state that grew without bound, and a side channel.
/// </summary>
public sealed class HardeningTests(EmbedderFixture fixture)
{
    private const int Dim = 16;
    private readonly TextEmbedder _embedder = fixture.Embedder;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static float[] RandomUnit(Random random, int dimension = Dim)
    {
        var v = new float[dimension];
        double norm = 0;
        for (int i = 0; i < v.Length; i++)
        {
            v[i] = (float)((random.NextDouble() * 2) - 1);
            norm += v[i] * v[i];
        }

        for (int i = 0; i < v.Length; i++)
        {
            v[i] /= (float)Math.Sqrt(norm);
        }

        return v;
    }

    private static CacheSetRequest Own(string ns, string prompt, float[] vector, string response = "r") =>
        new() { Namespace = ns, Prompt = prompt, Response = response, Vector = vector };

    /// <summary>Every live entry of the engine with its vector is found by that vector, as itself, at similarity 1.</summary>
    private static Task AssertEverySetIsSearchableAsync(SemanticCacheEngine engine, string ns, IReadOnlyDictionary<string, float[]> vectorsById) =>
        AssertEverySetIsSearchableAsync(engine, vectorsById.ToDictionary(p => p.Key, p => (ns, p.Value)));

    // Partitions are kept below the exact-scan threshold, so a miss can only mean a missing vector, never HNSW recall.
    private static async Task AssertEverySetIsSearchableAsync(SemanticCacheEngine engine, IReadOnlyDictionary<string, (string Namespace, float[] Vector)> vectorsById)
    {
        var missing = new List<string>();
        foreach ((string id, (string ns, float[] vector)) in vectorsById)
        {
            CacheGetResult result = await engine.GetAsync(new CacheGetRequest { Namespace = ns, Vector = vector, MinSimilarity = 0.999f, TopK = 3 }, Ct);
            if (!result.Matches.Any(m => m.Id == id))
            {
                missing.Add(id);
            }
        }

        Assert.True(missing.Count == 0, $"{missing.Count} of {vectorsById.Count} stored entries are not searchable: {string.Join(", ", missing.Take(10))}");
    }

    [Fact]
    public async Task EveryAcknowledgedSetIsSearchableAfterCrashesDuringCheckpoints()
    {
        // The store checkpoints itself every 20 ms, as a busy server does every CheckpointInterval.
        await using TestCache cache = await TestCache.OpenAsync(_embedder, store: s =>
        {
            s.Durability = DurabilityMode.Strict;
            s.CheckpointInterval = TimeSpan.FromMilliseconds(20);
        });
        var acknowledged = new ConcurrentDictionary<string, (string, float[])>();
        for (int round = 0; round < 3; round++)
        {
            Task[] writers = Enumerable.Range(0, 16).Select(w => Task.Run(
                async () =>
                {
                    var r = new Random((round * 100) + w);
                    for (int i = 0; i < 150; i++)
                    {
                        float[] v = RandomUnit(r);
                        CacheSetResult set = await cache.Engine.SetAsync(Own($"crash-{w}", $"r{round} i{i}", v), Ct);
                        acknowledged[set.Id] = ($"crash-{w}", v);
                    }
                },
                Ct)).ToArray();
            await Task.WhenAll(writers);
            await cache.CrashAndRestartAsync(_embedder);

            Assert.Equal(acknowledged.Count, cache.Engine.GetStatistics().Entries);
            Assert.Equal(acknowledged.Count, cache.Engine.Recovery.IndexedVectors);
            await AssertEverySetIsSearchableAsync(cache.Engine, acknowledged);
        }
    }

    [Fact]
    public async Task AnIndexSnapshotThatDisagreesWithTheStoreIsReconciledAtStartUp()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        var random = new Random(7);
        var vectors = new Dictionary<string, float[]>();
        for (int i = 0; i < 50; i++)
        {
            float[] v = RandomUnit(random);
            vectors[(await cache.Engine.SetAsync(Own("rec", $"p{i}", v), Ct)).Id] = v;
        }

        await cache.Engine.CheckpointAsync(Ct);

        // The snapshot of an older state: made while only some entries existed, then kept as the current one.
        string index = Path.Combine(cache.Directory, "index");
        string saved = Path.Combine(cache.Directory, "index-older");
        CopyDirectory(index, saved);
        for (int i = 50; i < 80; i++)
        {
            float[] v = RandomUnit(random);
            vectors[(await cache.Engine.SetAsync(Own("rec", $"p{i}", v), Ct)).Id] = v;
        }

        string deleted = vectors.Keys.First();
        Assert.Equal(1, await cache.Engine.DeleteAsync(new CacheDeleteRequest { Namespace = "rec", Id = deleted }, Ct));
        vectors.Remove(deleted);

        // The older vectors under the current manifest: a snapshot that claims to match the store's checkpoint but
        // lacks 30 entries and holds one deleted since (what a checkpoint taken while Sets were in flight leaves).
        await cache.TamperAndRestartAsync(_embedder, _ =>
        {
            foreach (string file in Directory.GetFiles(saved, "*.snapshot"))
            {
                File.Copy(file, Path.Combine(index, Path.GetFileName(file)), overwrite: true);
            }
        });

        Assert.Equal(79, cache.Engine.Recovery.IndexedVectors);
        await AssertEverySetIsSearchableAsync(cache.Engine, "rec", vectors);
        CacheGetResult all = await cache.Engine.GetAsync(new CacheGetRequest { Namespace = "rec", Vector = RandomUnit(random), MinSimilarity = -1, TopK = 100 }, Ct);
        Assert.Equal(79, all.Matches.Count);
        Assert.DoesNotContain(all.Matches, m => m.Id == deleted);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: true);
        }
    }

    [Theory]
    [InlineData(DurabilityMode.None)]
    [InlineData(DurabilityMode.Periodic)]
    [InlineData(DurabilityMode.Strict)]
    public async Task SemanticSearchSurvivesAGracefulRestartInEveryDurabilityMode(DurabilityMode mode)
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder, store: s => s.Durability = mode);
        await cache.Engine.SetAsync(new CacheSetRequest { Namespace = "keep", Prompt = "How do I reset my password?", Response = "Use the link." }, Ct);

        await cache.RestartAsync(_embedder);

        CacheGetResult result = await cache.Engine.GetAsync(new CacheGetRequest { Namespace = "keep", Prompt = "How can I reset my password?" }, Ct);
        Assert.Equal(SemanticLayer.Searched, result.Semantic);
        Assert.Equal("Use the link.", Assert.Single(result.Matches).Response);
    }

    [Fact]
    public async Task NamespaceDimensionsAreRecoveredFromTheStoredVectorsWhateverFilesAreMissing()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        float[] v = [1, 0, 0, 0];
        await cache.Engine.SetAsync(Own("four", "four dims", v), Ct);
        await cache.Engine.SetAsync(new CacheSetRequest { Namespace = "model", Prompt = "How do I reset my password?", Response = "Use the link." }, Ct);

        await cache.TamperAndRestartAsync(_embedder, directory =>
        {
            foreach (string file in Directory.GetFiles(directory, "namespaces.json*"))
            {
                File.Delete(file);
            }

            Directory.Delete(Path.Combine(directory, "index"), recursive: true);
        });

        Assert.True((await cache.Engine.GetAsync(new CacheGetRequest { Namespace = "four", Vector = new float[] { 0.9f, 0.1f, 0, 0 } }, Ct)).Hit);
        Assert.True((await cache.Engine.GetAsync(new CacheGetRequest { Namespace = "model", Prompt = "How can I reset my password?" }, Ct)).Hit);
        CacheRequestException wrong = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.SetAsync(Own("four", "five dims", [1, 0, 0, 0, 0]), Ct));
        Assert.Equal(CacheErrorKind.FailedPrecondition, wrong.Kind);
    }

    [Fact]
    public async Task AnIndexManifestWithTheWrongShapeIsRebuiltFromTheStore()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        await cache.Engine.SetAsync(new CacheSetRequest { Prompt = "How do I reset my password?", Response = "Use the link." }, Ct);

        await cache.TamperAndRestartAsync(_embedder, directory =>
            File.WriteAllText(Path.Combine(directory, "index", "manifest.json"), """{"Sequence": 1, "Dims": [384], "extra": true}"""));

        Assert.StartsWith("rebuilt", cache.Engine.Recovery.IndexSource, StringComparison.Ordinal);
        Assert.True((await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "How can I reset my password?" }, Ct)).Hit);
    }

    [Fact]
    public async Task ASetManyWithMixedDimensionsInANewNamespaceWritesNothingAndFixesNoDimension()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheRequestException e = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.SetManyAsync(
            [Own("mixed", "a", [1, 0, 0, 0]), Own("mixed", "b", [1, 0, 0, 0, 0])], Ct));
        Assert.Equal(CacheErrorKind.FailedPrecondition, e.Kind);
        Assert.Equal("entries[1].vector", e.Field);
        Assert.Equal(0, cache.Engine.GetStatistics().Entries);
        Assert.Equal(0, cache.Engine.GetStatistics().Sets);

        // The namespace's dimension is still free: the second entry's size is accepted on its own.
        await cache.Engine.SetAsync(Own("mixed", "b", [1, 0, 0, 0, 0]), Ct);
    }

    [Fact]
    public async Task ASetManyWhoseModelVectorsDisagreeWithTheNamespaceWritesNothing()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheRequestException e = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.SetManyAsync(
            [Own("mixed2", "own vector", [1, 0, 0, 0]), new CacheSetRequest { Namespace = "mixed2", Prompt = "model vector", Response = "r" }], Ct));
        Assert.Equal(CacheErrorKind.FailedPrecondition, e.Kind);
        Assert.Equal("entries[1].vector", e.Field);
        Assert.Equal(0, cache.Engine.GetStatistics().Entries);
    }

    [Fact]
    public async Task AnEntryOverTheStoredSizeLimitIsResourceExhaustedAndTheBatchWritesNothing()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder, store: s => s.MaxEntryBytes = 64 * 1024);
        string multibyte = new('€', 30_000); // 30,000 characters, within Cache:MaxResponseChars; 90,000 bytes stored
        CacheRequestException e = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.SetManyAsync(
            [Own("big", "fine", [1, 0, 0, 0]), Own("big", "too big", [0, 1, 0, 0], multibyte)], Ct));
        Assert.Equal(CacheErrorKind.ResourceExhausted, e.Kind);
        Assert.Equal("entries[1].response", e.Field);
        Assert.Contains("Storage:MaxEntryBytes", e.Reason, StringComparison.Ordinal);
        Assert.Equal(0, cache.Engine.GetStatistics().Entries);

        // Nothing was fixed by the rejected call either: the namespace takes any dimension.
        await cache.Engine.SetAsync(Own("big", "five", [1, 0, 0, 0, 0]), Ct);

        CacheRequestException single = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.SetAsync(Own("big", "too big", [0, 1, 0, 0, 0], multibyte), Ct));
        Assert.Equal(CacheErrorKind.ResourceExhausted, single.Kind);
        Assert.Equal("response", single.Field);
        Assert.Equal(1, cache.Engine.GetStatistics().Entries);
    }

    [Fact]
    public async Task AVectorAboveTheDimensionLimitIsASizeLimit()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder, o => o.MaxVectorDimension = 8);
        CacheRequestException get = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.GetAsync(new CacheGetRequest { Vector = new float[9] }, Ct));
        Assert.Equal(CacheErrorKind.ResourceExhausted, get.Kind);
        Assert.Equal("vector", get.Field);
        Assert.Contains("Cache:MaxVectorDimension", get.Reason, StringComparison.Ordinal);
        CacheRequestException set = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.SetManyAsync([Own("x", "p", new float[9])], Ct));
        Assert.Equal(CacheErrorKind.ResourceExhausted, set.Kind);
        Assert.Equal("entries[0].vector", set.Field);
    }

    [Fact]
    public async Task AVectorTooSmallToHaveADirectionIsRejectedAndNothingIsStored()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        float[] tiny = [1e-30f, 0, 0, 0]; // non-zero, but its float sum of squares underflows to 0
        CacheRequestException set = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.SetAsync(Own("tiny", "p", tiny), Ct));
        Assert.Equal(CacheErrorKind.InvalidArgument, set.Kind);
        Assert.Equal("vector", set.Field);
        CacheRequestException get = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.GetAsync(new CacheGetRequest { Namespace = "tiny", Vector = tiny }, Ct));
        Assert.Equal("vector", get.Field);
        Assert.Equal(0, cache.Engine.GetStatistics().Entries);

        // No dimension was fixed and the engine restarts and serves.
        await cache.Engine.SetAsync(Own("tiny", "p", [1, 0, 0, 0, 0]), Ct);
        await cache.RestartAsync(_embedder);
        Assert.True((await cache.Engine.GetAsync(new CacheGetRequest { Namespace = "tiny", Vector = new float[] { 1, 0, 0, 0, 0 } }, Ct)).Hit);
    }

    [Fact]
    public async Task NullTextsFromEmbeddedCallersAreRejectedByField()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        CacheRequestException attribute = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.SetAsync(
            new CacheSetRequest { Prompt = "p", Response = "r", Attributes = [new("model", null!)] }, Ct));
        Assert.Equal("attributes[model]", attribute.Field);
        CacheRequestException message = await Assert.ThrowsAsync<CacheRequestException>(() => cache.Engine.GetAsync(
            new CacheGetRequest { Messages = [new("system", null!), new("user", "q")] }, Ct));
        Assert.Equal("messages[0].content", message.Field);
        Assert.Equal(0, cache.Engine.GetStatistics().Entries);
    }

    [Fact]
    public async Task LookupsAndStatisticsOfMadeUpNamespacesLeaveNoState()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        await cache.Engine.SetAsync(Own("real", "p", [1, 0, 0, 0]), Ct);
        int before = cache.Engine.TrackedNamespaceCount;
        for (int i = 0; i < 3_000; i++)
        {
            await cache.Engine.GetAsync(new CacheGetRequest { Namespace = $"made-up-{i}", Vector = new float[] { 1, 0, 0, 0 } }, Ct);
            Assert.Equal(0, cache.Engine.GetStatistics($"other-{i}").Gets);
        }

        Assert.Equal(before, cache.Engine.TrackedNamespaceCount);
        Assert.Equal(3_000, cache.Engine.GetStatistics().Gets);
    }

    [Fact]
    public async Task AfterARestartLookupsOfANamespaceThatHoldsEntriesAreCountedForIt()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        await cache.Engine.SetAsync(Own("kept", "p", [1, 0, 0, 0]), Ct);
        await cache.RestartAsync(_embedder);

        Assert.True((await cache.Engine.GetAsync(new CacheGetRequest { Namespace = "kept", Prompt = "p" }, Ct)).Hit);

        CacheStatistics stats = cache.Engine.GetStatistics("kept");
        Assert.Equal(1, stats.Entries);
        Assert.Equal(1, stats.Gets);
        Assert.Equal(1, stats.ExactHits);
    }

    [Fact]
    public async Task EmptiedConversationPartitionsAreRetired()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        var random = new Random(3);
        for (int c = 0; c < 300; c++)
        {
            ChatMessage[] conversation = [new("system", "be brief"), new("user", $"conversation {c}"), new("assistant", "ok"), new("user", "and then?")];
            await cache.Engine.SetAsync(new CacheSetRequest { Namespace = "chat", Messages = conversation, Response = "r", Vector = RandomUnit(random) }, Ct);
            Assert.Equal(1, await cache.Engine.DeleteAsync(new CacheDeleteRequest { Namespace = "chat", Messages = conversation }, Ct));
        }

        Assert.Equal(0, cache.Engine.GetStatistics().Entries);
        Assert.Equal(0, cache.Engine.IndexedPartitionCount);
    }

    [Fact]
    public async Task ARecentPromptOfAnotherNamespaceIsEmbeddedAgain()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder);
        string prompt = $"A prompt that tenant A just used {Guid.NewGuid():N}";
        await cache.Engine.GetAsync(new CacheGetRequest { Namespace = "tenant-a", Prompt = prompt }, Ct);
        long embedded = _embedder.BatchedTextCount;

        await cache.Engine.GetAsync(new CacheGetRequest { Namespace = "tenant-b", Prompt = prompt }, Ct);

        Assert.Equal(embedded + 1, _embedder.BatchedTextCount);
    }

    [Fact]
    public async Task WithMoveAsideADamagedDirectoryStartsEmptyAndServesAndCheckpoints()
    {
        await using TestCache cache = await TestCache.OpenAsync(_embedder, store: s =>
        {
            s.Durability = DurabilityMode.None;
            s.OnUnrecoverableData = UnrecoverableDataPolicy.MoveAsideAndStartEmpty;
        });
        await cache.Engine.SetManyAsync(Enumerable.Range(0, 50).Select(i => Own("d", $"p{i}", [1, i, 0, 0])).ToArray(), Ct);

        // Store data without any checkpoint to recover it from: unrecoverable, so moved aside with the index beside it.
        await cache.TamperAndRestartAsync(_embedder, directory => Directory.Delete(Path.Combine(directory, "checkpoints"), recursive: true));

        Assert.NotNull(cache.Engine.Recovery.Store.MovedAsideTo);
        Assert.Equal(0, cache.Engine.GetStatistics().Entries);
        await cache.Engine.SetAsync(new CacheSetRequest { Prompt = "How do I reset my password?", Response = "Use the link." }, Ct);
        await cache.Engine.CheckpointAsync(Ct);
        await cache.RestartAsync(_embedder);
        Assert.True((await cache.Engine.GetAsync(new CacheGetRequest { Prompt = "How can I reset my password?" }, Ct)).Hit);
    }
}
