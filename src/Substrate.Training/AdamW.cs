using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>AdamW hyperparameters (the LR comes per step from the schedule).</summary>
public sealed record AdamWOptions(double Beta1 = 0.9, double Beta2 = 0.95, double Eps = 1e-8, double WeightDecay = 0.1);

/// <summary>
/// AdamW (decoupled weight decay; PyTorch's update order) over fp32 master weights, with its state
/// as plain tensors so a checkpoint can save and restore it exactly. Two groups: matrices decay;
/// norms, biases (1-D) and embeddings do not. On CPU the update is one fused pass per parameter
/// (<see cref="AdamWKernel"/>, no allocation); elsewhere it is the reference sequence of
/// in-place libtorch ops. Per element, with g the gradient times <c>gradScale</c>:
/// <code>
/// m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
/// p = p·(1 − lr·wd) − lr/(1−β1^t) · m / (√v / √(1−β2^t) + ε)
/// </code>
/// </summary>
public sealed class AdamW : IDisposable
{
    sealed record Slot(string Name, Tensor Param, Tensor ExpAvg, Tensor ExpAvgSq, bool Decay);

    readonly Slot[] _slots;
    readonly AdamWOptions _options;

    /// <summary>Updates taken so far (t − 1 for the next update's bias correction).</summary>
    public long Steps { get; private set; }

    /// <summary>Use the fused CPU kernel where every tensor allows it (fp32, contiguous, CPU). Off: the libtorch reference ops.</summary>
    public bool Fused { get; init; } = true;

    public AdamW(IEnumerable<(string Name, Tensor Parameter)> parameters, AdamWOptions options)
    {
        _options = options;
        var seen = new HashSet<IntPtr>();
        _slots = parameters
            .Where(p => p.Parameter.requires_grad && seen.Add(p.Parameter.Handle)) // a tied weight is updated once
            .Select(p => new Slot(p.Name, p.Parameter,
                zeros_like(p.Parameter).DetachFromDisposeScope(), zeros_like(p.Parameter).DetachFromDisposeScope(),
                Decays(p.Name, p.Parameter)))
            .ToArray();
    }

    /// <summary>Weight decay applies to matrices other than embeddings.</summary>
    public static bool Decays(string name, Tensor parameter) => parameter.dim() >= 2 && !name.Contains("embed_tokens");

    public IEnumerable<(string Name, bool Decay)> Groups => _slots.Select(s => (s.Name, s.Decay));

    /// <summary>The parameters this optimizer updates, each once (a tied weight once), in a fixed order.</summary>
    public IEnumerable<Tensor> Parameters => _slots.Select(s => s.Param);

    bool UseKernel(Slot s) => Fused && s.Param.device_type == DeviceType.CPU && s.Param.dtype == ScalarType.Float32
        && s.Param.is_contiguous() && s.Param.grad is { } g && g.is_contiguous() && g.dtype == ScalarType.Float32;

    /// <summary>Global L2 norm of every gradient (a parameter without a gradient counts as zero).</summary>
    public double GradNorm()
    {
        double sum = 0;
        foreach (var s in _slots)
        {
            if (s.Param.grad is not { } g) continue;
            if (UseKernel(s)) sum += AdamWKernel.SumOfSquares(g);
            else
            {
                using var scope = NewDisposeScope();
                sum += g.to_type(ScalarType.Float64).square().sum().item<double>();
            }
        }
        return Math.Sqrt(sum);
    }

    /// <summary>PyTorch's clip_grad_norm_ factor for a measured norm: min(1, maxNorm / (norm + 1e-6)); 1 when maxNorm is 0.</summary>
    public static double ClipScale(double gradNorm, double maxNorm) =>
        maxNorm <= 0 ? 1.0 : Math.Min(1.0, maxNorm / (gradNorm + 1e-6));

    /// <summary>One update with learning rate <paramref name="lr"/>; gradients are multiplied by <paramref name="gradScale"/> first (clipping).</summary>
    public void Step(double lr, double gradScale = 1.0)
    {
        Steps++;
        var o = _options;
        double bc1 = 1 - Math.Pow(o.Beta1, Steps), bc2Sqrt = Math.Sqrt(1 - Math.Pow(o.Beta2, Steps));
        using var noGrad = no_grad();
        foreach (var s in _slots)
        {
            if (s.Param.grad is not { } grad) continue;
            double wd = s.Decay ? o.WeightDecay : 0;
            if (UseKernel(s))
            {
                AdamWKernel.Update(s.Param, grad, s.ExpAvg, s.ExpAvgSq, new AdamWKernel.Constants(
                    (float)o.Beta1, (float)o.Beta2, (float)o.Eps, (float)(1 - lr * wd), (float)(-lr / bc1), (float)bc2Sqrt, (float)gradScale));
                continue;
            }
            using var scope = NewDisposeScope();
            var g = gradScale == 1.0 ? grad : grad.mul(gradScale);
            s.ExpAvg.mul_(o.Beta1).add_(g, alpha: 1 - o.Beta1);
            s.ExpAvgSq.mul_(o.Beta2).addcmul_(g, g, value: 1 - o.Beta2);
            if (wd != 0) s.Param.mul_(1 - lr * wd);
            var denom = s.ExpAvgSq.sqrt().div_(bc2Sqrt).add_(o.Eps);
            s.Param.addcdiv_(s.ExpAvg, denom, value: -lr / bc1);
        }
    }

    /// <summary>Drops the gradients (PyTorch's set_to_none): the next backward hands each parameter its new gradient
    /// tensor as it is, instead of adding it into zeroed memory (a memset, a read and a write of every gradient per step).</summary>
    public void ZeroGrad()
    {
        foreach (var s in _slots) s.Param.grad = null;
    }

    /// <summary>The moments by parameter name: <c>{name}.exp_avg</c>, <c>{name}.exp_avg_sq</c> (views of the live state).</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var state = new Dictionary<string, Tensor>();
        foreach (var s in _slots)
        {
            state[s.Name + ".exp_avg"] = s.ExpAvg;
            state[s.Name + ".exp_avg_sq"] = s.ExpAvgSq;
        }
        return state;
    }

    /// <summary>Restores moments saved by <see cref="StateDict"/> and the update count; every key must be present with its shape.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, long steps)
    {
        using var noGrad = no_grad();
        foreach (var s in _slots)
            foreach (var (suffix, target) in new[] { (".exp_avg", s.ExpAvg), (".exp_avg_sq", s.ExpAvgSq) })
            {
                if (!state.TryGetValue(s.Name + suffix, out var saved))
                    throw new InvalidDataException($"optimizer state has no '{s.Name + suffix}'");
                if (!saved.shape.SequenceEqual(target.shape))
                    throw new InvalidDataException($"optimizer state '{s.Name + suffix}' has shape [{string.Join(", ", saved.shape)}], "
                        + $"the parameter [{string.Join(", ", target.shape)}]");
                target.copy_(saved);
            }
        Steps = steps;
    }

    public void Dispose()
    {
        foreach (var s in _slots) { s.ExpAvg.Dispose(); s.ExpAvgSq.Dispose(); }
    }
}
