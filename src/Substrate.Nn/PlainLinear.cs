using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Substrate.Nn;

/// <summary>
/// A linear layer, y = x Wᵀ (+ b where asked for: Qwen2's q/k/v), whose fp32 master weight is cast to the input's dtype
/// on use: give it bf16 activations and the product runs in bf16 (mixed precision without
/// autocast); the cast is differentiable, so gradients reach the fp32 weight.
/// Initialized N(0, 0.02) from the global generator and the bias to zero, like Hugging Face.
/// </summary>
public sealed class PlainLinear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight; // (out, in)
    private readonly Parameter? bias;  // (out), or none

    public PlainLinear(int inFeatures, int outFeatures, double initStd = 0.02, bool bias = false, ParameterAllocation? allocation = null)
        : base(nameof(PlainLinear))
    {
        allocation ??= ParameterAllocation.Initialized;
        weight = new Parameter(allocation.Normal([outFeatures, inFeatures], initStd));
        weight.DetachFromDisposeScope();
        if (bias)
        {
            this.bias = new Parameter(allocation.Filled([outFeatures], 0));
            this.bias.DetachFromDisposeScope();
        }
        RegisterComponents();
    }

    public Parameter Weight => weight;

    public Parameter? Bias => bias;

    public override Tensor forward(Tensor x) // (…, in) → (…, out), in x's dtype
    {
        if (x.dtype == weight.dtype) return nn.functional.linear(x, weight, bias);
        using var w = weight.to(x.dtype);
        using var b = bias?.to(x.dtype);
        return nn.functional.linear(x, w, b);
    }
}
