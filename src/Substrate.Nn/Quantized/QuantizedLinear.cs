using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Substrate.Nn.Quantized;

/// <summary>
/// A frozen linear layer whose weight (out, in) is stored as quantized blocks (<see cref="QuantizedWeight"/>) and
/// dequantized on the fly in the input's dtype for each product — in the forward and again in the backward for the input
/// gradient — and freed right after it (<see cref="QuantizedMatmul"/>): no dense copy outlives a product, no weight gradient.
/// It owns no <c>weight</c> parameter (the blocks are not a module tensor, so they never appear in a state dict); an optional
/// bias stays dense, frozen, in <paramref name="biasDtype"/>. The base of QLoRA under a <see cref="LoraLinear"/>.
/// </summary>
public sealed class QuantizedLinear : nn.Module<Tensor, Tensor>
{
    private readonly QuantizedWeight weightBlocks; // (out, rowBytes) uint8, not registered; placed on its device by the factory
    private readonly Parameter? bias;              // (out), or none

    public QuantizedLinear(QuantizedWeight weight, Tensor? bias = null) : base(nameof(QuantizedLinear))
    {
        weightBlocks = weight;
        if (bias is not null)
        {
            this.bias = new Parameter(bias, requires_grad: false);
            this.bias.DetachFromDisposeScope();
        }
        RegisterComponents();
    }

    public QuantizedWeight Weight => weightBlocks;

    public override Tensor forward(Tensor x) // (…, in) → (…, out), in x's dtype
    {
        var y = QuantizedMatmul.Apply(x, weightBlocks);
        if (bias is null) return y;
        using var b = bias.to(x.dtype);
        return y.add_(b);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) weightBlocks.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>y = x · Wᵀ over a quantized W as one autograd node: the forward and the backward (dx = dy · W) each dequantize
/// W into a temporary freed after the product, so autograd keeps nothing of W between them.</summary>
public sealed class QuantizedMatmul : autograd.SingleTensorFunction<QuantizedMatmul>
{
    public override string Name => nameof(QuantizedMatmul);

    public static Tensor Apply(Tensor x, QuantizedWeight weight) => apply(x, weight);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (x, weight) = ((Tensor)vars[0], (QuantizedWeight)vars[1]);
        ctx.save_data("weight", weight);
        // Nothing inside records a graph (as under PyTorch's Function.apply): this node is the graph, and W must not be
        // saved by a linear node until backward.
        using var noGrad = no_grad();
        using var w = weight.Dequantize(x.dtype);  // (out, in)
        return nn.functional.linear(x, w);         // (…, out)
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var weight = (QuantizedWeight)ctx.get_data("weight");
        using var w = weight.Dequantize(gradOutput.dtype); // (out, in)
        return [gradOutput.matmul(w), null!];               // (…, out) · (out, in) → (…, in)
    }
}
