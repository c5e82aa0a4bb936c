using SemCache.CacheServer;
using SemCache.CacheServer.Configuration;

// Start-up failures (a bad option, a missing model, a port in use, a damaged data directory) end the process with
// one line on stderr naming the option or path and the fix, and exit code 1; --verbose adds the stack trace.
WebApplication? app = null;
ServerOptions? server = null;
try
{
    app = SemCacheServer.Build(args);
    server = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ServerOptions>>().Value; // RunAsync disposes the services when it fails
    await app.RunAsync().ConfigureAwait(false);
    return 0;
}
#pragma warning disable CA1031 // every start-up failure ends here, whatever its type
catch (Exception e)
#pragma warning restore CA1031
{
    Console.Error.WriteLine("semcache-server: " + StartupFailure.Describe(e, server));
    if (args.Contains(SemCacheServer.VerboseFlag))
    {
        Console.Error.WriteLine(e);
    }

    return 1;
}
finally
{
    if (app is not null)
    {
        await app.DisposeAsync().ConfigureAwait(false);
    }
}
