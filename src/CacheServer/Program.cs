using SemCache.CacheServer;
using SemCache.CacheServer.Configuration;

// --help and --version answer before anything else is read (so `--help --port 4000` binds nothing).
if (args.Any(a => a is "--help" or "-h" or "-?"))
{
    Console.Out.Write(OptionCatalog.HelpText());
    return 0;
}

if (args.Contains("--version"))
{
    Console.Out.WriteLine("semcache-server " + OptionCatalog.VersionText());
    return 0;
}

// Start-up failures (a bad option, a missing model, a port in use, a damaged data directory) end the process with
// one line on stderr naming the option or path and the fix, and exit code 1 (2 for a wrong command line); --verbose
// adds the stack trace.
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

    return e is StartupException { ExitCode: int code } ? code : 1;
}
finally
{
    if (app is not null)
    {
        await app.DisposeAsync().ConfigureAwait(false);
    }
}
