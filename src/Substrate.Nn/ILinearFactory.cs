using static TorchSharp.torch;

namespace Substrate.Nn;

/// <summary>
/// Decides which linear layer a model uses for each projection: plain, LoRA-wrapped, quantized.
/// Models ask the factory for every projection by its state-dict path
/// (e.g. <c>model.layers.0.self_attn.q_proj</c>), so a LoRA factory can pick its targets by name.
/// The returned module must own a parameter named <c>weight</c> of shape (outFeatures, inFeatures)
/// and compute in the dtype of its input (the model casts activations to its compute dtype). With <c>bias</c>, it also
/// owns a parameter named <c>bias</c> of shape (outFeatures).
/// </summary>
public interface ILinearFactory
{
    nn.Module<Tensor, Tensor> Create(string path, int inFeatures, int outFeatures, bool bias = false);
}

/// <summary>Creates <see cref="PlainLinear"/> layers everywhere, their parameters made as <paramref name="allocation"/> says
/// (default: initialized fp32).</summary>
public sealed class PlainLinearFactory(ParameterAllocation? allocation = null) : ILinearFactory
{
    public static readonly PlainLinearFactory Instance = new();

    public ParameterAllocation Allocation { get; } = allocation ?? ParameterAllocation.Initialized;

    public nn.Module<Tensor, Tensor> Create(string path, int inFeatures, int outFeatures, bool bias = false) =>
        new PlainLinear(inFeatures, outFeatures, bias: bias, allocation: Allocation);
}
