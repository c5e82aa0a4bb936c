using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SemCache.Client;

namespace Microsoft.Extensions.AI;

/// <summary>Adds SemCache to a chat client pipeline.</summary>
public static class SemanticCachingChatClientBuilderExtensions
{
    /// <summary>Answers repeated and paraphrased questions from SemCache, in front of the rest of the pipeline.</summary>
    /// <param name="builder">The pipeline.</param>
    /// <param name="client">The cache; null for the <see cref="SemCacheClient"/> of the services (see <c>AddSemCacheClient</c>).</param>
    /// <param name="configure">Sets the middleware's namespace, minimum similarity or TTL.</param>
    /// <returns>The pipeline, for chaining.</returns>
    public static ChatClientBuilder UseSemanticCache(this ChatClientBuilder builder, SemCacheClient? client = null, Action<SemanticCachingChatClient>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Use((inner, services) =>
        {
            var chat = new SemanticCachingChatClient(
                inner, client ?? services.GetRequiredService<SemCacheClient>(), services.GetService<ILogger<SemanticCachingChatClient>>());
            configure?.Invoke(chat);
            return chat;
        });
    }
}
