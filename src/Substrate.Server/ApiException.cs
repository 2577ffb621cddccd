using Substrate.Inference;
using Substrate.Inference.Serving;

namespace Substrate.Server;

/// <summary>An error the client caused or must handle, sent as OpenAI's <c>{"error": {message, type, param, code}}</c>.</summary>
public sealed class ApiException(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null)
    : Exception(message)
{
    public int Status => status;
    public string Type => type;
    public string? Param => param;
    public string? Code => code;

    /// <summary>Seconds for the <c>Retry-After</c> header (a 429); null: none.</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ApiException Invalid(string message, string? param = null, string? code = null) => new(400, message, param: param, code: code);

    /// <summary>The HTTP form of an inference error (null: not a client error).</summary>
    public static ApiException? From(Exception e) => e switch
    {
        ApiException api => api,
        UnknownModelException => new(404, e.Message, param: "model", code: "model_not_found"),
        PromptTooLongException => new(400, e.Message, param: "messages", code: "context_length_exceeded"),
        LogitBiasOutOfVocabularyException => new(400, e.Message, param: "logit_bias", code: "invalid_value"),
        QueueFullException full => new(429, e.Message, type: "rate_limit_error", code: "queue_full") { RetryAfterSeconds = full.RetryAfterSeconds },
        Microsoft.AspNetCore.Http.BadHttpRequestException { StatusCode: 413 } => new(413, "the request body is too large", code: "request_too_large"),
        System.Text.Json.JsonException => new(400, $"the body is not valid JSON: {e.Message}", code: "invalid_json"),
        ArgumentException => new(400, e.Message),
        NotSupportedException => new(400, e.Message, code: "unsupported"), // e.g. embeddings of a GGUF file served on the CPU decoder
        _ => null,
    };
}
