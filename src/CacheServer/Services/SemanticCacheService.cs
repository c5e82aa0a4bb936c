using Grpc.Core;
using Microsoft.Extensions.Options;
using SemCache.Embedding;
using SemCache.Protocol.V1;

namespace SemCache.CacheServer.Services;

/// <summary>Maps the SemanticCache contract onto the engine. Validation here; no cache logic.</summary>
internal sealed class SemanticCacheService(TextEmbedder embedder, IOptions<ServerOptions> options) : SemanticCache.SemanticCacheBase
{
    private readonly ServerOptions _options = options.Value;

    public override async Task<EmbedResponse> Embed(EmbedRequest request, ServerCallContext context)
    {
        if (request.Texts.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "texts: at least one text is required."));
        }

        if (request.Texts.Count > _options.MaxEmbedTexts)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"texts: {request.Texts.Count} texts exceed the limit of {_options.MaxEmbedTexts} per call (Server:MaxEmbedTexts)."));
        }

        for (int i = 0; i < request.Texts.Count; i++)
        {
            if (request.Texts[i].Length > _options.MaxTextChars)
            {
                throw new RpcException(new Status(StatusCode.ResourceExhausted, $"texts[{i}]: {request.Texts[i].Length} characters exceed the limit of {_options.MaxTextChars} (Server:MaxTextChars)."));
            }
        }

        EmbeddingResult[] results = await embedder.EmbedManyAsync(request.Texts, context.CancellationToken).ConfigureAwait(false);
        var response = new EmbedResponse { Model = embedder.ModelName };
        foreach (EmbeddingResult result in results)
        {
            var vector = new Vector();
            vector.Values.AddRange(result.Vector);
            response.Vectors.Add(vector);
            response.Truncated.Add(result.Truncated);
        }

        return response;
    }
}
