using SemCache.CacheServer;

WebApplication app = SemCacheServer.Build(args);
await app.RunAsync().ConfigureAwait(false);
