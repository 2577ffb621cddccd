using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Nn;

/// <summary>
/// Builds the inner factory's linears wrapped in <see cref="LoraLinear"/> — every projection except the output
/// head (PEFT's <c>all-linear</c> set), so any adapter, whatever its target modules, can attach later — and
/// records them by state-dict path. The base layer is moved to <paramref name="device"/> here, before wrapping
/// (the wrapper shares the base's parameters, so the model must not move them afterwards).
/// </summary>
public sealed class LoraLinearFactory(ILinearFactory? inner = null, Device? device = null) : ILinearFactory
{
    private readonly ILinearFactory inner = inner ?? PlainLinearFactory.Instance;
    private readonly Dictionary<string, LoraLinear> layers = new(StringComparer.Ordinal);

    public LoraRouter Router { get; } = new();

    /// <summary>Wrapped layers by path (<c>model.layers.0.self_attn.q_proj</c>), in creation order.</summary>
    public IReadOnlyDictionary<string, LoraLinear> Layers => layers;

    public nn.Module<Tensor, Tensor> Create(string path, int inFeatures, int outFeatures)
    {
        var layer = inner.Create(path, inFeatures, outFeatures);
        if (path == "lm_head") return layer;
        if (device is not null && device.type != DeviceType.CPU) layer.to(device);
        var lora = new LoraLinear(layer, inFeatures, outFeatures, Router);
        layers[path] = lora;
        return lora;
    }
}
