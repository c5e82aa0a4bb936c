using SemCache.CacheServer;

// Start-up failures (a bad option, a missing model, a port in use, a damaged data directory) end the process with
// one clear line and exit code 1, not a stack trace and an abort.
try
{
    await using WebApplication app = SemCacheServer.Build(args);
    await app.RunAsync().ConfigureAwait(false);
    return 0;
}
#pragma warning disable CA1031
catch (Exception e)
#pragma warning restore CA1031
{
    Console.Error.WriteLine($"semcache-server: {(e is Microsoft.Extensions.Options.OptionsValidationException ? string.Join("; ", ((Microsoft.Extensions.Options.OptionsValidationException)e).Failures) : e.Message)}");
    return 1;
}
