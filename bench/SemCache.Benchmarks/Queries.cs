namespace SemCache.Benchmarks;

/// <summary>Short, chat-style queries of 10–20 word pieces, varied so batches pad a little as real traffic does.</summary>
internal static class Queries
{
    public const string Short = "How do I reset my password if I no longer have access to my email?";

    public const string Paragraph =
        "Semantic caches store the answers of a language model and serve them again when a later prompt means the same " +
        "thing. The hard part is deciding what counts as the same: a threshold on cosine similarity between sentence " +
        "embeddings, chosen from labelled pairs, trades wrong hits against misses. Isolation matters as much: an answer " +
        "given under one system prompt, model or temperature must never leak into another conversation, and a follow-up " +
        "question only makes sense inside the conversation that asked it. Long prompts are a trap, because a model with a " +
        "fixed window sees only their beginning, so two long prompts that differ at the end would look identical.";

    private static readonly string[] Subjects = ["my password", "a python list", "the kitchen sink", "a flat tyre", "my resume", "the router", "a git branch", "my taxes", "sourdough bread", "a cover letter", "the thermostat", "a docker image", "my phone battery", "a job interview", "the lawn mower", "an excel pivot table"];

    private static readonly string[] Frames = ["How do I fix {0}?", "What is the best way to clean {0} quickly?", "Can you explain how {0} works in simple terms?", "Why does {0} keep failing after the latest update?"];

    public static string[] Mixed { get; } = [.. Subjects.SelectMany(s => Frames.Select(f => string.Format(System.Globalization.CultureInfo.InvariantCulture, f, s)))];
}
