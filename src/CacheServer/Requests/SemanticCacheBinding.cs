using Google.Protobuf.Reflection;
using Grpc.Core;
using SemCache.CacheServer.Services;
using SemCache.Protocol.V1;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace SemCache.CacheServer.Requests;

/// <summary>
/// The bind method grpc-dotnet, JSON transcoding and reflection find through <see cref="BindServiceMethodAttribute"/> on
/// <see cref="SemanticCacheService"/>: the generated binding, with checked request marshallers.
/// </summary>
internal static class SemanticCacheBinding
{
    /// <summary>The service's descriptor; JSON transcoding and reflection read it from the bind type.</summary>
    public static ServiceDescriptor Descriptor => SemanticCache.Descriptor;

    /// <summary>
    /// Called by grpc-dotnet with a null service (it creates one per call and finds each handler on the service type
    /// by name): the generated binding declares the methods, the checked binder passes them on.
    /// </summary>
    public static void BindService(ServiceBinderBase serviceBinder, SemanticCacheService? service) =>
        SemanticCache.BindService(new CheckedRequestBinder(serviceBinder, SemanticCache.Descriptor), serviceImpl: null);
}
