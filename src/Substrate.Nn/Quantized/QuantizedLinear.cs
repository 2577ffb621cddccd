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

/// <summary>y = x · Wᵀ over a quantized W as one autograd node: the forward and the backward (dx = dy · W) each dequantize W a
/// tile at a time into a temporary freed after its product, so no dense W (33 MB in bf16 at 8192 × 2048) is ever alive, and
/// autograd keeps nothing of W between them. The forward tiles W's rows (a slice of y's columns each), the backward W's columns
/// (a slice of dx's columns each): every output element is still one product over the whole reduction, so the result equals
/// the untiled product (tested bit for bit).</summary>
public sealed class QuantizedMatmul : autograd.SingleTensorFunction<QuantizedMatmul>
{
    /// <summary>Dense values a tile holds at most (4 MiB in bf16); a tile is never narrower than one block.</summary>
    public const long TileElements = 1 << 21;

    public override string Name => nameof(QuantizedMatmul);

    public static Tensor Apply(Tensor x, QuantizedWeight weight) => apply(x, weight);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (x, weight) = ((Tensor)vars[0], (QuantizedWeight)vars[1]);
        ctx.save_data("weight", weight);
        // Nothing inside records a graph (as under PyTorch's Function.apply): this node is the graph, and W must not be
        // saved by a linear node until backward.
        using var noGrad = no_grad();
        using var rows = x.reshape(-1, weight.InFeatures);                  // (N, in)
        var y = empty([.. x.shape[..^1], weight.OutFeatures], x.dtype);     // (…, out): not a view, the caller may add into it in place
        using var flat = y.view(-1, weight.OutFeatures);                    // (N, out)
        long tile = Math.Max(1, TileElements / weight.InFeatures);
        for (long first = 0; first < weight.OutFeatures; first += tile)
        {
            long count = Math.Min(tile, weight.OutFeatures - first);
            using var w = weight.Dequantize(x.dtype, first, count, 0, weight.InFeatures); // (count, in)
            using var part = nn.functional.linear(rows, w);                                // (N, count)
            using var slot = flat.narrow(1, first, count);                                 // a view: its handle freed here
            slot.copy_(part);
        }
        return y;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var weight = (QuantizedWeight)ctx.get_data("weight");
        var (values, _) = weight.Format.Block();
        using var rows = gradOutput.reshape(-1, weight.OutFeatures);           // (N, out)
        var dx = empty([.. gradOutput.shape[..^1], weight.InFeatures], gradOutput.dtype); // (…, in)
        using var flat = dx.view(-1, weight.InFeatures);                                   // (N, in)
        int tile = (int)Math.Max(values, TileElements / weight.OutFeatures / values * values);
        for (int first = 0; first < weight.InFeatures; first += tile)
        {
            int count = Math.Min(tile, weight.InFeatures - first);
            using var w = weight.Dequantize(gradOutput.dtype, 0, weight.OutFeatures, first, count); // (out, count)
            using var part = rows.matmul(w);                                                       // (N, count)
            using var slot = flat.narrow(1, first, count);
            slot.copy_(part);
        }
        return [dx, null!];
    }
}
