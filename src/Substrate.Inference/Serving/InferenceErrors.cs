namespace Substrate.Inference.Serving;

/// <summary>The scheduler holds all it admits (its batch slots and its queue): try again later (HTTP 429 with Retry-After).</summary>
public sealed class QueueFullException(int running, int waiting)
    : Exception($"the server is full ({running} requests running, {waiting} waiting); try again in {RetrySeconds} s")
{
    /// <summary>When to try again: a slot frees as soon as any running request ends, and a decode step takes milliseconds,
    /// so the shortest wait HTTP can say.</summary>
    public const int RetrySeconds = 1;

    public int RetryAfterSeconds => RetrySeconds;
}

/// <summary>The prompt does not fit the model's context (HTTP 400).</summary>
public sealed class PromptTooLongException(int tokens, int context)
    : ArgumentException($"the prompt has {tokens} tokens; the model's context is {context} tokens (prompt plus at least one new token)")
{
    public int Tokens => tokens;
    public int Context => context;
}

/// <summary>No model or adapter by that name (HTTP 404).</summary>
public sealed class UnknownModelException(string model, IEnumerable<string> known)
    : ArgumentException($"the model '{model}' does not exist; known: {string.Join(", ", known)}");

/// <summary>A logit bias names a token id outside the vocabulary (HTTP 400, parameter logit_bias).</summary>
public sealed class LogitBiasOutOfVocabularyException(int id, int vocabSize)
    : ArgumentException($"logit_bias: token id {id} is outside the vocabulary [0, {vocabSize})");
