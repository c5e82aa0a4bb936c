// A console chat in front of SemCache: UseSemanticCache() before an IChatClient, so that a question asked again, or in
// other words, is answered from the cache instead of the provider. Runs offline on a built-in fake provider; set
// OPENAI_API_KEY (and OPENAI_MODEL, OPENAI_BASE_URL for any OpenAI-compatible endpoint) to ask a real one.
using System.ClientModel;
using System.Diagnostics;
using System.Globalization;
using ChatWithCache;
using Microsoft.Extensions.AI;
using OpenAI;
using SemCache.Client;

string address = Environment.GetEnvironmentVariable("SEMCACHE_ADDRESS") ?? "http://127.0.0.1:50051";
string model = Environment.GetEnvironmentVariable("OPENAI_MODEL") ?? "gpt-4o-mini";
string? apiKey = Environment.GetEnvironmentVariable("OPENAI_API_KEY");
string? baseUrl = Environment.GetEnvironmentVariable("OPENAI_BASE_URL");

IChatClient provider = apiKey is null
    ? new FakeProvider(model)
    : new OpenAIClient(new ApiKeyCredential(apiKey), new OpenAIClientOptions { Endpoint = baseUrl is null ? null : new Uri(baseUrl) })
        .GetChatClient(model).AsIChatClient();

using var cache = new SemCacheClient(new SemCacheClientOptions { Address = new Uri(address), Namespace = "chat-sample" });
using IChatClient chat = provider.AsBuilder().UseSemanticCache(cache).Build();

Console.WriteLine($"SemCache at {address}; provider: {(apiKey is null ? "built-in fake" : model)}. Ask away (an empty line quits).");
string[] questions = args.Length > 0 ? args : ["How do I reset my password?", "How can I reset my password?"];
IEnumerable<string> lines = Console.IsInputRedirected || args.Length > 0 || Environment.GetEnvironmentVariable("CHAT_DEMO") is not null
    ? questions
    : ReadLines();
int asked = 0, fromCache = 0;
var system = new ChatMessage(ChatRole.System, "You are the help desk of a web shop. Answer in one or two sentences.");

foreach (string question in lines)
{
    Console.WriteLine($"> {question}");
    var watch = Stopwatch.StartNew();
    ChatResponse response = await chat.GetResponseAsync([system, new ChatMessage(ChatRole.User, question)]);
    double ms = watch.Elapsed.TotalMilliseconds;
    asked++;
    string source = "provider";
    if (response.AdditionalProperties?.TryGetValue(SemanticCachingChatClient.StatusProperty, out object? status) == true)
    {
        fromCache++;
        object? similarity = response.AdditionalProperties[SemanticCachingChatClient.SimilarityProperty];
        source = string.Create(CultureInfo.InvariantCulture, $"cache, {status}, similarity {similarity:F3}");
    }

    Console.WriteLine(response.Text);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  [{source}, {ms:F0} ms, {response.Usage?.TotalTokenCount ?? 0} tokens]"));
}

if (cache.FailureCount > 0)
{
    Console.WriteLine($"The cache could not be reached {cache.FailureCount} time(s): every question went to the provider.");
    return;
}

CacheStatistics stats = await cache.StatsAsync(cache.Namespace);
Console.WriteLine(string.Create(
    CultureInfo.InvariantCulture,
    $"{fromCache} of {asked} questions answered from the cache. Saved in namespace {cache.Namespace} since the server started: {stats.TokensSaved} tokens, ${stats.CostSavedUsd:F6}."));

static IEnumerable<string> ReadLines()
{
    while (Console.ReadLine() is { Length: > 0 } line)
    {
        yield return line;
    }
}
