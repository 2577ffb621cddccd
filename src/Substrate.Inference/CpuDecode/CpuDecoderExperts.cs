using Substrate.Models;

namespace Substrate.Inference.CpuDecode;

/// <summary>
/// A sparse MLP's weights for <see cref="CpuDecoder"/>: the router (E, H), each expert's gate/up (I', H) and down (H, I'),
/// Qwen2-MoE's shared expert and its (H) gate vector. Views like the dense layers' (an expert of a GGUF stack is a slice of it).
/// </summary>
internal sealed record CpuDecoderExperts(WeightMatrix Router, WeightMatrix[] Gate, WeightMatrix[] Up, WeightMatrix[] Down, int TopK,
    bool Renormalize, WeightMatrix[]? Shared, float[]? SharedGate)
{
    /// <summary>The experts under <paramref name="block"/> (<c>model.layers.N.block_sparse_moe</c> or <c>….mlp</c>), by their HF names.</summary>
    public static CpuDecoderExperts Build(ModelConfig config, string block, Func<string, int, int, WeightMatrix> matrix, Func<string, int?, float[]> vector)
    {
        var names = config.Family!.Experts!;
        var (h, w, e) = (config.HiddenSize, config.ExpertIntermediateSize, config.ExpertCount);
        WeightMatrix Expert(int expert, string projection, int rows, int cols) => matrix($"{block}.experts.{expert}.{projection}.weight", rows, cols);
        var s = config.SharedExpertSize;
        return new CpuDecoderExperts(
            matrix($"{block}.gate.weight", e, h),
            [.. Enumerable.Range(0, e).Select(x => Expert(x, names.Gate, w, h))],
            [.. Enumerable.Range(0, e).Select(x => Expert(x, names.Up, w, h))],
            [.. Enumerable.Range(0, e).Select(x => Expert(x, names.Down, h, w))],
            config.ExpertsPerToken, config.RenormalizeTopK,
            s == 0 ? null : [matrix($"{block}.shared_expert.gate_proj.weight", s, h), matrix($"{block}.shared_expert.up_proj.weight", s, h),
                matrix($"{block}.shared_expert.down_proj.weight", h, s)],
            s == 0 ? null : vector($"{block}.shared_expert_gate.weight", h));
    }

    /// <summary>The widest MLP input any expert (or the shared one) needs.</summary>
    public int Width => Math.Max(Gate[0].Rows, Shared?[0].Rows ?? 0);
}
