using Substrate.Models;

namespace Substrate.Training;

/// <summary>
/// Training FLOPs per token (forward + backward) for MFU: 6·N for the non-embedding matrices,
/// 6·V·d for the lm_head, 12·L·T·d for attention scores and values (PaLM appendix B).
/// </summary>
public static class ModelFlops
{
    /// <summary>Parameters of the decoder layers and final norm (no embedding table, no lm_head) that a token computes with:
    /// of a sparse MLP, the router, its k experts and the shared expert (the active parameters; all of them for a dense model).</summary>
    public static long NonEmbeddingParameters(ModelConfig c)
    {
        long d = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim;
        long attention = d * q + 2 * d * kv + q * d;
        long mlp = 3 * d * c.IntermediateSize;
        long sparseMlp = c.ExpertCount * d + 3L * c.ExpertsPerToken * c.ExpertIntermediateSize * d
            + (c.SharedExpertSize > 0 ? 3L * c.SharedExpertSize * d + d : 0);
        long sparseLayers = ModelLayout.SparseLayerCount(c);
        return c.NumHiddenLayers * (attention + mlp + 2 * d) + sparseLayers * (sparseMlp - mlp) + d;
    }

    /// <summary>Active parameters: layers (a sparse MLP's active share), the embedding table and, when untied, the lm_head.</summary>
    public static long Parameters(ModelConfig c) =>
        NonEmbeddingParameters(c) + (long)c.VocabSize * c.HiddenSize * (c.TieWordEmbeddings ? 1 : 2);

    public static double TrainingFlopsPerToken(ModelConfig c, int seqLen) =>
        6.0 * NonEmbeddingParameters(c)
        + 6.0 * c.VocabSize * c.HiddenSize
        + 12.0 * c.NumHiddenLayers * seqLen * c.NumAttentionHeads * c.HeadDim;
}
