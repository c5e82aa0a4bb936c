using System.Diagnostics.Metrics;
using Grpc.Net.ClientFactory;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SemCache.Client;
using SemCache.Protocol.V1;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="SemCacheClient"/>.</summary>
public static class SemCacheServiceCollectionExtensions
{
    private const string GrpcClientName = "SemCache.Client";

    /// <summary>
    /// Registers a singleton <see cref="SemCacheClient"/> configured by <paramref name="configure"/>, over gRPC clients from the
    /// gRPC client factory (its handlers pooled and renewed). <see cref="SemCacheClientOptions.HttpHandler"/> is not used here.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets the options; null keeps the defaults.</param>
    /// <returns>The services, for chaining.</returns>
    public static IServiceCollection AddSemCacheClient(this IServiceCollection services, Action<SemCacheClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        OptionsBuilder<SemCacheClientOptions> options = services.AddOptions<SemCacheClientOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.AddGrpcClient<SemanticCache.SemanticCacheClient>(GrpcClientName, (sp, o) => o.Address = sp.GetRequiredService<IOptions<SemCacheClientOptions>>().Value.Address);
        services.TryAddSingleton(sp =>
        {
            var factory = sp.GetRequiredService<GrpcClientFactory>();
            return new SemCacheClient(
                () => factory.CreateClient<SemanticCache.SemanticCacheClient>(GrpcClientName),
                sp.GetRequiredService<IOptions<SemCacheClientOptions>>().Value,
                (ILogger?)sp.GetService<ILogger<SemCacheClient>>() ?? NullLogger.Instance,
                sp.GetService<IMeterFactory>());
        });
        return services;
    }
}
