using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace SemCache.CacheServer.Telemetry;

/// <summary>
/// Counts every unary call, gRPC and HTTP/JSON alike (transcoded calls run through the same handlers), by method and
/// the status code it ended with. First in the chain, so the calls later interceptors refuse are counted too.
/// </summary>
internal sealed class RequestMetricsInterceptor(ServerMetrics metrics) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        long started = Stopwatch.GetTimestamp();
        StatusCode code = StatusCode.OK;
        try
        {
            return await continuation(request, context).ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            code = e.StatusCode;
            throw;
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            code = StatusCode.Cancelled;
            throw;
        }
        catch
        {
            code = StatusCode.Unknown;
            throw;
        }
        finally
        {
            string method = context.Method[(context.Method.LastIndexOf('/') + 1)..];
            string? contentType = context.GetHttpContext().Request.ContentType;
            string transport = contentType is not null && contentType.StartsWith("application/grpc", StringComparison.Ordinal) ? "grpc" : "http";
            metrics.Request(method, code, transport, started);
        }
    }
}
