using static TorchSharp.torch;

namespace Substrate.Nn.Quantized;

/// <summary>
/// Builds the projections of a QLoRA base: each weight read from <paramref name="source"/> (its state-dict name, e.g.
/// <c>model.layers.0.self_attn.q_proj.weight</c>, as a dense tensor) and quantized at once into <paramref name="format"/>
/// blocks, layer by layer, so the dense base is never resident as a whole. The output head stays a dense
/// <see cref="PlainLinear"/> allocated in <paramref name="headDtype"/> (the compute dtype, as QLoRA keeps it) for the model
/// loader to fill. Without a source (a fresh model: tests, benchmarks) each weight is drawn N(0, 0.02) and quantized.
/// </summary>
public sealed class QuantizedLinearFactory(WeightQuantization format, Func<string, Tensor>? source = null, Device? device = null,
    ScalarType headDtype = ScalarType.BFloat16) : ILinearFactory
{
    public WeightQuantization Format { get; } = format;

    /// <summary>Bytes of every quantized weight built so far.</summary>
    public long QuantizedBytes { get; private set; }

    public nn.Module<Tensor, Tensor> Create(string path, int inFeatures, int outFeatures, bool bias = false)
    {
        if (path == "lm_head")
            return new PlainLinear(inFeatures, outFeatures, allocation: source is null ? null : new ParameterAllocation(headDtype, false));
        using var scope = NewDisposeScope();
        var dense = source?.Invoke($"{path}.weight") ?? PlainLinearFactory.Instance.Allocation.Normal([outFeatures, inFeatures], 0.02);
        if (!dense.shape.SequenceEqual(new long[] { outFeatures, inFeatures }))
            throw new ArgumentException($"{path}.weight has shape [{string.Join(", ", dense.shape)}]; the layer needs [{outFeatures}, {inFeatures}]");
        var weight = QuantizedWeight.Quantize(dense, Format, $"{path}.weight");
        if (device is not null && device.type != TorchSharp.DeviceType.CPU) weight = weight.To(device);
        QuantizedBytes += weight.Bytes;
        var biasValues = bias ? source?.Invoke($"{path}.bias").to(headDtype) ?? zeros(outFeatures, headDtype) : null;
        return new QuantizedLinear(weight, biasValues?.DetachFromDisposeScope());
    }
}
