using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Substrate.Nn;

/// <summary>One low-rank update of one linear layer: ΔW = scale · B·A, applied as x·Aᵀ·Bᵀ·scale.</summary>
public sealed class LoraPair(Tensor a, Tensor b, double scale, double dropout) : IDisposable
{
    public Tensor A { get; } = a;              // (r, in)
    public Tensor B { get; } = b;              // (out, r)
    public double Scale { get; } = scale;      // lora_alpha / r
    public double Dropout { get; } = dropout;  // on the input of A, training only
    public int Rank => (int)A.shape[0];

    public void Dispose() { A.Dispose(); B.Dispose(); }
}

/// <summary>
/// A linear layer wrapped with any number of named LoRA adapters (PEFT <c>LoraLayer</c>):
/// y = base(x) + Σ scale · dropout(x)·Aᵀ·Bᵀ for the adapter(s) the <see cref="LoraRouter"/> selects.
/// The base layer's parameters are registered here under their own names, so the state dict keeps
/// the base keys (<c>….q_proj.weight</c>): a LoRA-wrapped model loads and saves plain HF folders.
/// Adapter tensors are not module parameters — they live beside the model, small and swappable,
/// and the base stays untouched until <see cref="Merge"/>.
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    // weight (out, in). Held in a box so TorchSharp's field reflection does not register it as a submodule
    // (its parameters are registered here directly, keeping the base keys).
    private readonly Box baseBox;
    private nn.Module<Tensor, Tensor> baseLayer => baseBox.Layer;
    private sealed record Box(nn.Module<Tensor, Tensor> Layer);
    private readonly LoraRouter router;
    private readonly Dictionary<string, LoraPair> adapters = new(StringComparer.Ordinal);

    public LoraLinear(nn.Module<Tensor, Tensor> baseLayer, int inFeatures, int outFeatures, LoraRouter router) : base(nameof(LoraLinear))
    {
        baseBox = new Box(baseLayer);
        this.router = router;
        (InFeatures, OutFeatures) = (inFeatures, outFeatures);
        foreach (var (name, p) in baseLayer.named_parameters()) register_parameter(name, p);
        foreach (var (name, b) in baseLayer.named_buffers()) register_buffer(name, b);
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public nn.Module<Tensor, Tensor> BaseLayer => baseLayer;
    public IReadOnlyDictionary<string, LoraPair> Adapters => adapters;

    /// <summary>The base weight (out, in).</summary>
    public Parameter Weight => baseLayer.named_parameters().FirstOrDefault(p => p.name == "weight").parameter
        ?? throw new InvalidOperationException("this layer's base weight is quantized (QLoRA): merge or export the adapter with the unquantized base");

    public void Add(string name, LoraPair pair)
    {
        if (pair.A.shape[1] != InFeatures || pair.B.shape[0] != OutFeatures || pair.B.shape[1] != pair.A.shape[0])
            throw new ArgumentException($"adapter '{name}': lora_A [{string.Join(", ", pair.A.shape)}] / lora_B [{string.Join(", ", pair.B.shape)}] "
                + $"do not fit a linear layer of {InFeatures} → {OutFeatures} features");
        if (adapters.Remove(name, out var old)) old.Dispose();
        adapters[name] = pair;
    }

    public bool Remove(string name)
    {
        if (!adapters.Remove(name, out var pair)) return false;
        pair.Dispose();
        return true;
    }

    public override Tensor forward(Tensor x) // (B, T, in) → (B, T, out), in x's dtype
    {
        var y = baseLayer.call(x);
        if (adapters.Count == 0) return y;
        var selection = router.Current;
        if (selection.Rows is null)
        {
            if (selection.Name is null || !adapters.TryGetValue(selection.Name, out var pair)) return y;
            using var delta = Delta(x, pair);
            return y.add_(delta);
        }
        // A batch mixing adapters: each adapter's rows get their own update.
        if (selection.Rows.Length != x.shape[0])
            throw new ArgumentException($"adapter rows name {selection.Rows.Length} rows but the batch has {x.shape[0]}");
        foreach (var group in selection.Rows.Select((n, i) => (n, i)).Where(r => r.n is not null).GroupBy(r => r.n!))
        {
            if (!adapters.TryGetValue(group.Key, out var pair)) continue;
            using var scope = NewDisposeScope();
            var index = tensor(group.Select(r => (long)r.i).ToArray(), device: x.device); // (b)
            var delta = Delta(x.index_select(0, index), pair);                              // (b, T, out)
            y = y.index_add(0, index, delta, 1);
            y.MoveToOuterDisposeScope();
        }
        return y;
    }

    private Tensor Delta(Tensor x, LoraPair pair) // x (…, in) → (…, out)
    {
        using var scope = NewDisposeScope();
        var h = training && pair.Dropout > 0 ? nn.functional.dropout(x, pair.Dropout, training: true) : x;
        var a = pair.A.dtype == x.dtype ? pair.A : pair.A.to(x.dtype);
        var b = pair.B.dtype == x.dtype ? pair.B : pair.B.to(x.dtype);
        var delta = nn.functional.linear(nn.functional.linear(h, a), b).mul_(pair.Scale); // (…, r) → (…, out)
        return delta.MoveToOuterDisposeScope();
    }

    /// <summary>Folds an adapter into the base weight, W ← W + scale·B·A, and drops it.</summary>
    public void Merge(string name)
    {
        if (!adapters.TryGetValue(name, out var pair)) throw new ArgumentException($"no adapter '{name}' on this layer");
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            var weight = Weight;
            var delta = pair.B.to(ScalarType.Float32).matmul(pair.A.to(ScalarType.Float32)).mul_(pair.Scale); // (out, in)
            weight.add_(delta.to(weight.dtype));
        }
        Remove(name);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (var pair in adapters.Values) pair.Dispose();
            adapters.Clear();
            baseLayer.Dispose();
        }
        base.Dispose(disposing);
    }
}
