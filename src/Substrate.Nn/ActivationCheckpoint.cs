using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Nn;

/// <summary>
/// Activation (gradient) checkpointing of one block as an autograd node: y = block(x) keeps only x for backward — not the
/// block's intermediates (its norms, projections' inputs, dropout masks, gate and up of the MLP: ~22 MB a layer at the
/// Llama-3.2-1B shape and 128 tokens) — and the backward runs the block again with gradients on, then backpropagates
/// dy through that recomputed graph: the parameters inside get their gradients as without checkpointing, and dx is
/// returned. Both runs take the same code path (gradients on: some blocks choose their kernels by it) from the same
/// random state (dropout masks are drawn again identically; the generator is restored afterwards), so gradients are
/// bit-identical to the plain block's. The price is one more forward per block in the step. CPU generator only.
/// </summary>
public sealed class ActivationCheckpoint : autograd.SingleTensorFunction<ActivationCheckpoint>
{
    public override string Name => nameof(ActivationCheckpoint);

    /// <summary>block(x) (any shape to any shape) with its intermediates dropped until backward. <paramref name="held"/>: the
    /// other tensors the block reads (rotary tables, a mask) as handles of their own, which this takes over — the recompute
    /// runs after the caller's dispose scope has freed its handles — and disposes after the backward. With gradients off it
    /// is simply block(x).</summary>
    public static Tensor Apply(Tensor x, Func<Tensor, Tensor> block, IReadOnlyList<Tensor> held)
    {
        if (!is_grad_enabled())
        {
            using var scope = NewDisposeScope();
            var plain = block(x).MoveToOuterDisposeScope();
            foreach (var t in held) t.Dispose();
            return plain;
        }
        foreach (var t in held) t.DetachFromDisposeScope();
        // A frozen input (the embeddings' output under LoRA) would make this node unreachable by backward, and the block's
        // parameters would get no gradient: the node then takes a leaf that asks for one (its gradient is dropped).
        var input = x.requires_grad ? x : x.detach().requires_grad_(true);
        return apply(input, new Recipe(block, get_rng_state().DetachFromDisposeScope(), held));
    }

    /// <summary>What backward needs besides x: the block, the generator's state before its forward ((N) uint8) and the tensors
    /// the block reads.</summary>
    sealed record Recipe(Func<Tensor, Tensor> Block, Tensor RandomState, IReadOnlyList<Tensor> Held) : IDisposable
    {
        public void Dispose()
        {
            RandomState.Dispose();
            foreach (var t in Held) t.Dispose();
        }
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (x, recipe) = ((Tensor)vars[0], (Recipe)vars[1]);
        ctx.save_for_backward([x]);
        ctx.save_data("recipe", recipe);
        using var scope = NewDisposeScope();
        using var grad = enable_grad(); // the block's own graph is built and dropped with this scope: its intermediates die here
        using var y = recipe.Block(x.detach());
        return y.detach().MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var recipe = (Recipe)ctx.get_data("recipe");
        using var scope = NewDisposeScope();
        var x = ctx.get_saved_variables()[0];
        var after = get_rng_state();
        set_rng_state(recipe.RandomState);
        try
        {
            using var grad = enable_grad();
            var input = x.detach().requires_grad_(true);
            recipe.Block(input).backward([gradOutput]); // reentrant: the parameters' .grad accumulate as in the plain graph
            return [input.grad!.MoveToOuterDisposeScope(), null!];
        }
        finally
        {
            set_rng_state(after);
            recipe.Dispose();
        }
    }
}
