namespace Substrate.Inference.Serving;

/// <summary>
/// What a server (or an <c>IChatClient</c>) needs from inference, in plain .NET types: the model ids it serves,
/// streamed completions, embeddings, and load figures. Implemented by <see cref="InferenceEngine"/>.
/// </summary>
public interface IInferenceEngine : IDisposable
{
    /// <summary>The base model's id.</summary>
    string BaseModel { get; }

    /// <summary>Every model id served: the base, then "base:adapter" for each adapter.</summary>
    IReadOnlyList<string> Models { get; }

    /// <summary>The model folder's decoding settings (generation_config.json, Hugging Face's defaults where it is silent),
    /// for what a request leaves unset. Their <see cref="GenerationDefaults.EosTokenIds"/> end every generation.</summary>
    GenerationDefaults GenerationDefaults { get; }

    /// <summary>Context length in tokens (prompt plus output).</summary>
    int Context { get; }

    int QueueDepth { get; }
    int ActiveSequences { get; }

    /// <summary>Streams the completion; the last chunk carries finish reason and usage. Throws
    /// <see cref="UnknownModelException"/>, <see cref="PromptTooLongException"/>, <see cref="QueueFullException"/>
    /// or <see cref="ArgumentException"/> before the first chunk.</summary>
    IAsyncEnumerable<CompletionChunk> StreamAsync(CompletionRequest request, CancellationToken cancellation = default);

    /// <summary>Mean-pooled final hidden states (after the last norm), L2-normalised, one vector per input.</summary>
    Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<string> inputs, CancellationToken cancellation = default);
}
