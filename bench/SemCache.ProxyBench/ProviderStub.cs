using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SemCache.ProxyBench;

/// <summary>
/// A stand-in for an OpenAI-compatible provider on loopback that answers at once (or, for streams, with a fixed gap
/// between events), so that what the benchmark measures is what lies between the caller and the provider.
/// </summary>
internal sealed class ProviderStub : IAsyncDisposable
{
    private readonly WebApplication _app;
    private long _calls;

    private ProviderStub(WebApplication app) => _app = app;

    public string BaseUrl { get; private set; } = "";

    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>Events of a streamed answer after the role chunk, each <see cref="StreamGap"/> after the previous one.</summary>
    public int StreamEvents { get; init; } = 20;

    public TimeSpan StreamGap { get; init; } = TimeSpan.FromMilliseconds(2);

    public static async Task<ProviderStub> StartAsync(int streamEvents, TimeSpan streamGap)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        WebApplication app = builder.Build();
        var stub = new ProviderStub(app) { StreamEvents = streamEvents, StreamGap = streamGap };
        app.MapPost("/v1/chat/completions", stub.AnswerAsync);
        await app.StartAsync();
        stub.BaseUrl = app.Urls.First() + "/v1";
        return stub;
    }

    private async Task AnswerAsync(HttpContext context)
    {
        long call = Interlocked.Increment(ref _calls);
        JsonNode request = (await JsonNode.ParseAsync(context.Request.Body))!;
        JsonArray messages = request["messages"]!.AsArray();
        string prompt = (string?)messages[messages.Count - 1]!["content"] ?? "";
        string model = (string?)request["model"] ?? "";
        string text = $"Answer #{call} to: {prompt}";
        if ((bool?)request["stream"] == true)
        {
            context.Response.ContentType = "text/event-stream";
            async Task Send(object chunk)
            {
                await context.Response.WriteAsync("data: " + JsonSerializer.Serialize(chunk) + "\n\n");
                await context.Response.Body.FlushAsync();
            }

            object Chunk(object delta, string? finish) => new { id = $"chatcmpl-{call}", @object = "chat.completion.chunk", created = 1, model, choices = new[] { new { index = 0, delta, finish_reason = finish } } };
            await Send(Chunk(new { role = "assistant", content = "" }, null));
            int piece = Math.Max(1, text.Length / StreamEvents);
            for (int i = 0; i < text.Length; i += piece)
            {
                await Task.Delay(StreamGap);
                await Send(Chunk(new { content = text.Substring(i, Math.Min(piece, text.Length - i)) }, null));
            }

            await Send(Chunk(new { }, "stop"));
            if ((bool?)request["stream_options"]?["include_usage"] == true)
            {
                await Send(new { id = $"chatcmpl-{call}", @object = "chat.completion.chunk", created = 1, model, choices = Array.Empty<object>(), usage = new { prompt_tokens = 12, completion_tokens = 20, total_tokens = 32 } });
            }

            await context.Response.WriteAsync("data: [DONE]\n\n");
            return;
        }

        byte[] body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            id = $"chatcmpl-{call}",
            @object = "chat.completion",
            created = 1,
            model,
            choices = new[] { new { index = 0, message = new { role = "assistant", content = text }, finish_reason = "stop" } },
            usage = new { prompt_tokens = 12, completion_tokens = 20, total_tokens = 32 },
        }));
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
