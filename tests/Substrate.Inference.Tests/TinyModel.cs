using Substrate.Models;
using static TorchSharp.torch;

namespace Substrate.Inference.Tests;

internal static class TinyModel
{
    /// <summary>A seeded model over the byte vocabulary, weights scaled up so the distributions are not flat.</summary>
    public static LlamaForCausalLM Create(ModelOptions? options = null, int maxPositions = 64, long seed = 7)
    {
        manual_seed(seed);
        var model = new LlamaForCausalLM(new ModelConfig
        {
            VocabSize = 258, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 64, MaxPositionEmbeddings = maxPositions, RmsNormEps = 1e-5, TieWordEmbeddings = true,
        }, options);
        using (no_grad())
            foreach (var p in model.parameters()) p.mul_(5);
        return model;
    }
}
