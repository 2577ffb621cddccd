using Substrate.Inference.CpuDecode;
using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Inference.Serving;

/// <summary>
/// The CPU decoder behind <see cref="BatchScheduler"/> (a GGUF file's quantized blocks in place): one decoder slot per row, a
/// prefill in chunks through its batched forward, and a step as one batched forward of all active rows — each weight row
/// read once for all of them. No adapters, no embeddings (<see cref="Model"/> is null). Disposes the decoder.
/// </summary>
public sealed class CpuDecoderBatchModel(CpuDecoder decoder) : IBatchModel
{
    private float[] logits = [];

    public ModelConfig Config => decoder.Config;
    public int Rows => decoder.Slots;
    public int Context => decoder.MaxLength;
    public LlamaForCausalLM? Model => null;

    public Tensor Prefill(int row, IReadOnlyList<int> prompt)
    {
        var output = new float[Config.VocabSize];
        decoder.Prefill(row, 0, prompt, output);
        return tensor(output); // (V)
    }

    public Tensor Step(IReadOnlyList<int> tokens, IReadOnlyList<int> positions)
    {
        var (count, vocab) = (tokens.Count, Config.VocabSize);
        if (logits.Length < count * vocab) logits = new float[count * vocab];
        decoder.Forward(tokens.ToArray(), Enumerable.Range(0, count).ToArray(), positions.ToArray(), logits);
        return tensor(logits.AsSpan(0, count * vocab).ToArray(), [count, vocab]); // (B, V)
    }

    public void CopyRow(int from, int to, int length) => decoder.CopySlot(from, to, length);

    public void Dispose() => decoder.Dispose();
}
