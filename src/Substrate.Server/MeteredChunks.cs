using Substrate.Inference;
using Substrate.Inference.Serving;

namespace Substrate.Server;

/// <summary>
/// A completion's chunks, counted into <see cref="ServerMetrics"/> as they arrive: each token chunk adds one generated
/// token at once (so tokens streamed to a client that then disconnects are counted), and the final chunk adds the prompt
/// tokens and any generated tokens not seen one by one (a tool call or buffered text arrives whole).
/// </summary>
public sealed class MeteredChunks(IAsyncEnumerator<CompletionChunk> inner, ServerMetrics metrics) : IAsyncEnumerator<CompletionChunk>
{
    private int counted;

    public CompletionChunk Current => inner.Current;

    public async ValueTask<bool> MoveNextAsync()
    {
        if (!await inner.MoveNextAsync()) return false;
        if (inner.Current.Usage is { } usage)
        {
            metrics.Tokens(usage.PromptTokens, Math.Max(0, usage.CompletionTokens - counted));
            counted = usage.CompletionTokens;
        }
        else if (inner.Current.FinishReason is null)
        {
            metrics.Tokens(0, 1);
            counted++;
        }
        return true;
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
