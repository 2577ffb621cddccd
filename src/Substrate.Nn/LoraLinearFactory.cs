using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Nn;

/// <summary>
/// Builds the inner factory's linears wrapped in <see cref="LoraLinear"/> — every projection except the output
/// head (PEFT's <c>all-linear</c> set), so any adapter, whatever its target modules, can attach later — and
/// records them by state-dict path. The base layer is converted to <paramref name="weightDtype"/> (e.g. bf16: a frozen
/// base in half the memory, QLoRA-style) and moved to <paramref name="device"/> here, before wrapping: the wrapper shares
/// the base's parameters, so the model's own later <c>to()</c> must find them already there.
/// </summary>
public sealed class LoraLinearFactory(ILinearFactory? inner = null, Device? device = null, ScalarType weightDtype = ScalarType.Float32) : ILinearFactory
{
    private readonly ILinearFactory inner = inner ?? PlainLinearFactory.Instance;
    private readonly Dictionary<string, LoraLinear> layers = new(StringComparer.Ordinal);

    public LoraRouter Router { get; } = new();

    /// <summary>Wrapped layers by path (<c>model.layers.0.self_attn.q_proj</c>), in creation order.</summary>
    public IReadOnlyDictionary<string, LoraLinear> Layers => layers;

    /// <summary>A bias stays in the base layer (PEFT's rule): the adapters add only B·A.</summary>
    public nn.Module<Tensor, Tensor> Create(string path, int inFeatures, int outFeatures, bool bias = false)
    {
        var layer = inner.Create(path, inFeatures, outFeatures, bias);
        if (path == "lm_head") return layer;
        if (weightDtype != ScalarType.Float32) layer.to(weightDtype);
        if (device is not null && device.type != DeviceType.CPU) layer.to(device);
        var lora = new LoraLinear(layer, inFeatures, outFeatures, Router);
        layers[path] = lora;
        return lora;
    }
}
