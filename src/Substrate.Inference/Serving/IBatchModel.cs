using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Inference.Serving;

/// <summary>
/// What <see cref="BatchScheduler"/> steps through: a model with one KV-cache row per sequence served together. Two
/// implementations: the TorchSharp <see cref="LlamaForCausalLM"/> with its <c>KvCache</c> (<see cref="TorchBatchModel"/>:
/// adapters per row, embeddings) and the CPU decoder over a GGUF file's quantized blocks (<see cref="CpuDecoderBatchModel"/>).
/// Called from the scheduler's thread only; the logits it returns live in the caller's dispose scope.
/// </summary>
public interface IBatchModel : IDisposable
{
    ModelConfig Config { get; }

    /// <summary>KV-cache rows: sequences decoded together.</summary>
    int Rows { get; }

    /// <summary>Positions a row holds (prompt + output).</summary>
    int Context { get; }

    /// <summary>The TorchSharp model, for adapters and embeddings; null where there is none (a GGUF file on the CPU decoder).</summary>
    LlamaForCausalLM? Model { get; }

    /// <summary>Runs <paramref name="prompt"/> into row <paramref name="row"/> from position 0; the logits after its last token (V).</summary>
    Tensor Prefill(int row, IReadOnlyList<int> prompt);

    /// <summary>One token for each of rows [0, B) (<paramref name="tokens"/>[i] at <paramref name="positions"/>[i] of row i), in
    /// one pass over the weights; the next-token logits (B, V).</summary>
    Tensor Step(IReadOnlyList<int> tokens, IReadOnlyList<int> positions);

    /// <summary>Copies positions [0, <paramref name="length"/>) of row <paramref name="from"/> into row <paramref name="to"/>.</summary>
    void CopyRow(int from, int to, int length);
}
