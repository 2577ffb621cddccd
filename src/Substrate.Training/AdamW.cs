using Substrate.Models;
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
/// Sharded (ZeRO stage 1, <see cref="Shard"/>): each slot keeps the moments of its owned flat range of the parameter only and
/// updates that range; <see cref="IOptimizerShards"/> sums the gradient norm over the ranks, gathers the updated weights and,
/// for a checkpoint, each whole moment on rank 0 in turn, so the saved state is the same as an unsharded run's.
/// </summary>
public sealed class AdamW : IDisposable
{
    /// <summary>
    /// One parameter and its moments. Lo, Length: the flat range of the parameter this optimizer owns (Length −1: the whole
    /// parameter). The moments are made on first use, shaped like the parameter or (sharded) 1-D of the owned length, so a sharded
    /// optimizer never holds the whole moments, not even for a moment (a freed block stays in the process's heap).
    /// </summary>
    sealed class Slot(string name, Tensor param, bool decay)
    {
        Tensor? expAvg, expAvgSq;

        public string Name => name;
        public Tensor Param => param;
        public bool Decay => decay;
        public long Lo { get; private set; }
        public long Length { get; private set; } = -1;
        public bool HasMoments => expAvg is not null;

        /// <summary>Floats per moment this slot keeps: the owned range's, or the parameter's.</summary>
        public long Owned => Length < 0 ? param.numel() : Length;

        public Tensor ExpAvg => expAvg ??= NewMoment();
        public Tensor ExpAvgSq => expAvgSq ??= NewMoment();

        Tensor NewMoment() => (Length < 0 ? zeros_like(param) : zeros(Length, param.dtype, param.device)).DetachFromDisposeScope();

        public void Own(long lo, long length) => (Lo, Length) = (lo, length);

        /// <summary>The owned range of <paramref name="t"/> (the parameter, its gradient or a saved moment, shaped like the parameter)
        /// as a contiguous 1-D view, or t itself.</summary>
        public Tensor Part(Tensor t) => Length < 0 ? t : t.view(-1).narrow(0, Lo, Length);

        public void DisposeMoments() { expAvg?.Dispose(); expAvgSq?.Dispose(); }
    }

    readonly Slot[] _slots;
    readonly AdamWOptions _options;
    IOptimizerShards? _shards;

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
            .Select(p => new Slot(p.Name, p.Parameter, Decays(p.Name, p.Parameter)))
            .ToArray();
    }

    /// <summary>Weight decay applies to matrices other than embeddings.</summary>
    public static bool Decays(string name, Tensor parameter) => parameter.dim() >= 2 && !name.Contains("embed_tokens");

    public IEnumerable<(string Name, bool Decay)> Groups => _slots.Select(s => (s.Name, s.Decay));

    /// <summary>The parameters this optimizer updates, each once (a tied weight once), in a fixed order.</summary>
    public IEnumerable<Tensor> Parameters => _slots.Select(s => s.Param);

    /// <summary>Floats of moment state this process keeps (2 per owned element; made on the first step or load): what sharding
    /// divides by the rank count.</summary>
    public long StateElements => _slots.Sum(s => 2 * s.Owned);

    /// <summary>
    /// From now on keeps the moments of <paramref name="shards"/>' owned range of each parameter only (in <see cref="Parameters"/>
    /// order) and updates that range, the shards doing the rest. Call before the first step or load, so the moments are only ever
    /// made at the owned size (a checkpoint's are then read one slice per rank, <see cref="LoadState"/>).
    /// </summary>
    public void Shard(IOptimizerShards shards)
    {
        if (_shards is not null) throw new InvalidOperationException("the optimizer is already sharded");
        if (_slots.Any(s => s.HasMoments)) throw new InvalidOperationException("shard the optimizer before its first step or load");
        for (int i = 0; i < _slots.Length; i++)
        {
            var (lo, length) = shards.OwnedRange(i);
            _slots[i].Own(lo, length);
        }
        _shards = shards;
    }

    bool UseKernel(Tensor p, Tensor g) => Fused && p.device_type == DeviceType.CPU && p.dtype == ScalarType.Float32
        && p.is_contiguous() && g.is_contiguous() && g.dtype == ScalarType.Float32;

    /// <summary>Global L2 norm of every gradient (a parameter without a gradient counts as zero); sharded, over every rank's range.</summary>
    public double GradNorm()
    {
        double sum = 0;
        foreach (var s in _slots)
        {
            if (s.Param.grad is not { } grad || s.Length == 0) continue;
            using var scope = NewDisposeScope();
            var g = s.Part(grad);
            if (UseKernel(s.Part(s.Param), g)) sum += AdamWKernel.SumOfSquares(g);
            else sum += g.to_type(ScalarType.Float64).square().sum().item<double>();
        }
        return Math.Sqrt(_shards?.SumOverRanks(sum) ?? sum);
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
            if (s.Param.grad is not { } grad || s.Length == 0) continue;
            using var scope = NewDisposeScope();
            double wd = s.Decay ? o.WeightDecay : 0;
            var (param, owned) = (s.Part(s.Param), s.Part(grad)); // the whole tensors, or the owned flat range (sharded)
            if (UseKernel(param, owned))
            {
                AdamWKernel.Update(param, owned, s.ExpAvg, s.ExpAvgSq, new AdamWKernel.Constants(
                    (float)o.Beta1, (float)o.Beta2, (float)o.Eps, (float)(1 - lr * wd), (float)(-lr / bc1), (float)bc2Sqrt, (float)gradScale));
                continue;
            }
            var g = gradScale == 1.0 ? owned : owned.mul(gradScale);
            s.ExpAvg.mul_(o.Beta1).add_(g, alpha: 1 - o.Beta1);
            s.ExpAvgSq.mul_(o.Beta2).addcmul_(g, g, value: 1 - o.Beta2);
            if (wd != 0) param.mul_(1 - lr * wd);
            var denom = s.ExpAvgSq.sqrt().div_(bc2Sqrt).add_(o.Eps);
            param.addcdiv_(s.ExpAvg, denom, value: -lr / bc1);
        }
        _shards?.AllGatherParameters(); // every rank's updated range, on every rank
    }

    /// <summary>Drops the gradients (PyTorch's set_to_none): the next backward hands each parameter its new gradient
    /// tensor as it is, instead of adding it into zeroed memory (a memset, a read and a write of every gradient per step).</summary>
    public void ZeroGrad()
    {
        foreach (var s in _slots) s.Param.grad = null;
    }

    /// <summary>
    /// The moments as the checkpoint writes them, names sorted (<c>{name}.exp_avg</c>, <c>{name}.exp_avg_sq</c>, shaped like the
    /// parameters), each read when its turn comes. Sharded, every read is a collective every rank makes in this order (the other ranks
    /// only send: <see cref="JoinStateGather"/>); rank 0 gets one whole moment at a time, gathered into the shards' buffer, so writing
    /// <c>optimizer.safetensors</c> allocates nothing the size of the model.
    /// </summary>
    public IReadOnlyList<SafetensorsSource> StateSources() =>
    [
        .. _slots.SelectMany((s, i) => new[]
        {
            new SafetensorsSource(s.Name + ".exp_avg", s.Param.dtype, s.Param.shape, () => Moment(i, s.ExpAvg)),
            new SafetensorsSource(s.Name + ".exp_avg_sq", s.Param.dtype, s.Param.shape, () => Moment(i, s.ExpAvgSq)),
        }).OrderBy(source => source.Name, StringComparer.Ordinal),
    ];

    /// <summary>Slot <paramref name="index"/>'s <paramref name="moment"/> whole: itself, or (sharded) gathered on rank 0 (null elsewhere).</summary>
    Tensor Moment(int index, Tensor moment) => _shards is null ? moment : _shards.GatherMoment(index, moment)!;

    /// <summary>A rank that does not write the checkpoint: joins each of <see cref="StateSources"/>' gathers, in the writer's order.</summary>
    public void JoinStateGather()
    {
        if (_shards is null) return;
        foreach (var source in StateSources())
        {
            using var scope = NewDisposeScope();
            source.Read();
        }
    }

    /// <summary>The moments by parameter name, whole (a test's view; checkpoints stream <see cref="StateSources"/>). Sharded, a
    /// collective: rank 0 gets copies of the gathered moments, the other ranks an empty dictionary.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var state = new Dictionary<string, Tensor>();
        foreach (var source in StateSources())
            if (source.Read() is { } moment) state[source.Name] = _shards is null ? moment : moment.clone();
        return state;
    }

    /// <summary>Restores moments saved by <see cref="StateDict"/> and the update count; every key must be present with its shape.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, long steps) =>
        LoadState(name => state.TryGetValue(name, out var saved) ? saved : null, steps);

    /// <summary>
    /// Restores the moments from <paramref name="read"/> (a saved moment by name, shaped like its parameter, or null when missing),
    /// one tensor at a time: each is read, its owned range copied (sharded: 1/N of it, so a memory-mapped file is read only there)
    /// and released inside a scope of its own.
    /// </summary>
    public void LoadState(Func<string, Tensor?> read, long steps)
    {
        using var noGrad = no_grad();
        foreach (var s in _slots)
            foreach (var (suffix, target) in new[] { (".exp_avg", s.ExpAvg), (".exp_avg_sq", s.ExpAvgSq) })
            {
                using var scope = NewDisposeScope();
                var saved = read(s.Name + suffix) ?? throw new InvalidDataException($"optimizer state has no '{s.Name + suffix}'");
                if (!saved.shape.SequenceEqual(s.Param.shape))
                    throw new InvalidDataException($"optimizer state '{s.Name + suffix}' has shape [{string.Join(", ", saved.shape)}], "
                        + $"the parameter [{string.Join(", ", s.Param.shape)}]");
                target.copy_(s.Part(saved.contiguous()));
            }
        Steps = steps;
    }

    public void Dispose()
    {
        foreach (var s in _slots) s.DisposeMoments();
    }
}
