using Substrate.Models;
using Substrate.Nn;
using static TorchSharp.torch;

namespace Substrate.Inference.Serving;

/// <summary>The TorchSharp model behind <see cref="BatchScheduler"/>: a <see cref="KvCache"/> of <see cref="Rows"/> rows;
/// a prefill is one forward of the prompt into its row, a step one forward of (B, 1) tokens at per-row positions.</summary>
public sealed class TorchBatchModel(LlamaForCausalLM model, int rows, int context) : IBatchModel
{
    private readonly KvCache cache = model.CreateCache(rows, context);

    public ModelConfig Config => model.Config;
    public int Rows => rows;
    public int Context => context;
    public LlamaForCausalLM? Model => model;

    public Tensor Prefill(int row, IReadOnlyList<int> prompt)
    {
        using var slot = cache.Row(row);
        var input = tensor(prompt.Select(i => (long)i).ToArray(), [1, prompt.Count], device: model.Options.Device); // (1, T)
        return model.forward(input, slot, 0)[0, -1];                                                                // (V)
    }

    public Tensor Step(IReadOnlyList<int> tokens, IReadOnlyList<int> positions)
    {
        var input = tensor(tokens.Select(t => (long)t).ToArray(), [tokens.Count, 1], device: model.Options.Device); // (B, 1)
        return model.forward(input, cache, positions.Select(p => (long)p).ToArray()).select(1, 0);                 // (B, V)
    }

    public void CopyRow(int from, int to, int length) => cache.CopyRow(from, to, length);

    public void Dispose() => cache.Dispose();
}
