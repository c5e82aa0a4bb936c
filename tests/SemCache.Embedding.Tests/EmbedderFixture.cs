// The model is loaded once for the whole assembly (tests/Shared/EmbedderFixture.cs).
[assembly: AssemblyFixture(typeof(SemCache.Testing.EmbedderFixture))]
