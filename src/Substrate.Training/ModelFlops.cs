using Substrate.Models;

namespace Substrate.Training;

/// <summary>
/// Training FLOPs per token (forward + backward) for MFU: 6·N for the non-embedding matrices,
/// 6·V·d for the lm_head, 12·L·T·d for attention scores and values (PaLM appendix B).
/// </summary>
public static class ModelFlops
{
    /// <summary>Parameters of the decoder layers and final norm (no embedding table, no lm_head).</summary>
    public static long NonEmbeddingParameters(ModelConfig c)
    {
        long d = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim;
        long attention = d * q + 2 * d * kv + q * d;
        long mlp = 3 * d * c.IntermediateSize;
        return c.NumHiddenLayers * (attention + mlp + 2 * d) + d;
    }

    /// <summary>All parameters: layers, the embedding table and, when untied, the lm_head.</summary>
    public static long Parameters(ModelConfig c) =>
        NonEmbeddingParameters(c) + (long)c.VocabSize * c.HiddenSize * (c.TieWordEmbeddings ? 1 : 2);

    public static double TrainingFlopsPerToken(ModelConfig c, int seqLen) =>
        6.0 * NonEmbeddingParameters(c)
        + 6.0 * c.VocabSize * c.HiddenSize
        + 12.0 * c.NumHiddenLayers * seqLen * c.NumAttentionHeads * c.HeadDim;
}
