using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace SemCache.Proxy;

/// <summary>Maps the caching proxy's endpoints.</summary>
public static class ProxyEndpoints
{
    /// <summary>
    /// <c>POST /v1/chat/completions</c> (OpenAI) and <c>POST /v1/messages</c> (Anthropic), cached; every other request under
    /// <c>/v1/</c> that no other endpoint serves is forwarded untouched, to the Anthropic provider when it carries an
    /// <c>anthropic-version</c> header and to the OpenAI one otherwise.
    /// </summary>
    /// <param name="endpoints">The application's endpoints (the proxy needs <see cref="AddSemCacheProxy"/> first).</param>
    /// <returns>The endpoints, for chaining.</returns>
    public static IEndpointRouteBuilder MapSemCacheProxy(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        CachingProxy proxy = endpoints.ServiceProvider.GetRequiredService<CachingProxy>();
        endpoints.MapPost("/v1/chat/completions", context => proxy.HandleAsync(context, OpenAiChatApi.Instance)).ExcludeFromDescription();
        endpoints.MapPost("/v1/messages", context => proxy.HandleAsync(context, AnthropicMessagesApi.Instance)).ExcludeFromDescription();
        // The lowest precedence of all routes: SemCache's own /v1/get, /v1/set, … keep theirs.
        endpoints.Map("/v1/{**path}", context => proxy.ForwardAsync(context, (string?)context.Request.RouteValues["path"] ?? "")).ExcludeFromDescription();
        return endpoints;
    }

    /// <summary>Registers the proxy over the engine <paramref name="engine"/> gives once the host has opened it.</summary>
    /// <param name="services">The application's services.</param>
    /// <param name="options">The proxy's options.</param>
    /// <param name="maxTtl">The store's largest TTL (<c>x-semcache-ttl</c> may not exceed it).</param>
    /// <param name="engine">Gives the open engine (called per request).</param>
    /// <returns>The services, for chaining.</returns>
    public static IServiceCollection AddSemCacheProxy(this IServiceCollection services, ProxyOptions options, TimeSpan maxTtl, Func<IServiceProvider, Cache.SemanticCacheEngine> engine)
    {
        services.AddSingleton(sp => new CachingProxy(
            () => engine(sp),
            options,
            maxTtl,
            sp.GetRequiredService<Cache.Telemetry.CacheTelemetry>().Meter,
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<CachingProxy>>()));
        return services;
    }
}
