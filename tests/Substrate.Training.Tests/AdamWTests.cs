using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Substrate.Training.Tests;

public class AdamWTests
{
    static readonly AdamWOptions Options = new(Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1);

    /// <summary>Sets p.grad to <paramref name="grad"/> through autograd: d(Σ p·g)/dp = g.</summary>
    static void SetGrad(Tensor p, float[] grad)
    {
        using var scope = NewDisposeScope();
        (p * tensor(grad, p.shape)).sum().backward();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TwoStepsMatchHandComputedValues(bool fused)
    {
        using var scope = NewDisposeScope();
        var matrix = new Parameter(tensor(new float[] { 1, -2, 0.5f, 3 }, [2, 2]));   // decays
        var norm = new Parameter(tensor(new float[] { 1, -2 }, [2]));                 // 1-D: no decay
        var embedding = new Parameter(tensor(new float[] { 1, -2 }, [1, 2]));         // embedding: no decay
        using var adam = new AdamW([("model.layers.0.mlp.up_proj.weight", matrix), ("model.norm.weight", norm),
            ("model.embed_tokens.weight", embedding)], Options) { Fused = fused };
        Assert.Equal([true, false, false], adam.Groups.Select(g => g.Decay));

        SetGrad(matrix, [0.5f, 0.1f, -0.2f, 0]); SetGrad(norm, [0.5f, 0.1f]); SetGrad(embedding, [0.5f, 0.1f]);
        adam.Step(lr: 0.1);
        adam.ZeroGrad();
        SetGrad(matrix, [-0.3f, 0.4f, -0.2f, 1]); SetGrad(norm, [-0.3f, 0.4f]); SetGrad(embedding, [-0.3f, 0.4f]);
        adam.Step(lr: 0.1);

        // Computed by hand (double precision, PyTorch's AdamW formula) in the test's derivation.
        AssertClose([0.8619501989217752, -2.147637636124883, 0.6890499900499998, 2.8658863186954067], matrix);
        AssertClose([0.8808501989417752, -2.188437636024883], norm);
        AssertClose([0.8808501989417752, -2.188437636024883], embedding);
        var state = adam.StateDict();
        AssertClose([0.015, 0.049, -0.038, 0.1], state["model.layers.0.mlp.up_proj.weight.exp_avg"]);
        AssertClose([0.00033975, 0.00016999, 7.996e-05, 0.001], state["model.layers.0.mlp.up_proj.weight.exp_avg_sq"]);
        Assert.Equal(2, adam.Steps);
    }

    [Fact]
    public void FusedKernelMatchesTheReferenceOps()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var shapes = new long[][] { [300, 257], [1000], [7, 3] }; // > one kernel chunk, and odd tails
        var a = shapes.Select((s, i) => ($"layers.{i}.weight", new Parameter(randn(s)))).ToArray();
        var b = a.Select(p => (p.Item1, new Parameter(p.Item2.detach().clone()))).ToArray();
        using var fused = new AdamW(a.Select(p => (p.Item1, (Tensor)p.Item2)), new AdamWOptions()) { Fused = true };
        using var reference = new AdamW(b.Select(p => (p.Item1, (Tensor)p.Item2)), new AdamWOptions()) { Fused = false };
        for (int step = 0; step < 5; step++)
        {
            var grads = shapes.Select(s => randn(s).data<float>().ToArray()).ToArray();
            for (int i = 0; i < shapes.Length; i++) { SetGrad(a[i].Item2, grads[i]); SetGrad(b[i].Item2, grads[i]); }
            Assert.Equal(reference.GradNorm(), fused.GradNorm(), 1e-4);
            double scale = AdamW.ClipScale(fused.GradNorm(), 10.0);
            fused.Step(1e-2, scale); reference.Step(1e-2, scale);
            fused.ZeroGrad(); reference.ZeroGrad();
        }
        for (int i = 0; i < shapes.Length; i++)
            Assert.True(a[i].Item2.allclose(b[i].Item2, rtol: 1e-5, atol: 1e-6), $"parameter {i} differs");
    }

    [Fact]
    public void GradNormAndClipScaleFollowClipGradNorm()
    {
        using var scope = NewDisposeScope();
        var p = new Parameter(zeros(2, 2));
        var q = new Parameter(zeros(3));
        using var adam = new AdamW([("a.weight", p), ("b.weight", q)], Options);
        SetGrad(p, [3, 0, 0, 0]); SetGrad(q, [0, 4, 0]);
        Assert.Equal(5.0, adam.GradNorm(), 12);
        Assert.Equal(1.0 / (5.0 + 1e-6), AdamW.ClipScale(5.0, 1.0), 15);
        Assert.Equal(1.0, AdamW.ClipScale(5.0, 10.0));
        Assert.Equal(1.0, AdamW.ClipScale(5.0, 0.0)); // clipping off
    }

    /// <summary>Rank 1 of 2 (ZeRO-1's layout): the parameters end to end, padded to 2·S, this rank owning [S, 2·S). One process:
    /// the sums and gathers are its own values; the "gathered" moments are this rank's parts, to look at.</summary>
    sealed class SecondOfTwoRanks(long[] sizes) : IOptimizerShards
    {
        readonly long shard = (sizes.Sum() + 1) / 2;

        public (long Lo, long Length) OwnedRange(int index)
        {
            long start = sizes.Take(index).Sum(), end = start + sizes[index];
            long lo = Math.Max(start, shard), hi = Math.Min(end, 2 * shard);
            return hi > lo ? (lo - start, hi - lo) : (0, 0);
        }

        public double SumOverRanks(double value) => value;
        public void AllGatherParameters() { }
        public Tensor? GatherMoment(int index, Tensor part) => part;
    }

    [Fact]
    public void AShardedOptimizerMakesAndLoadsOnlyItsSliceOfTheMoments()
    {
        using var scope = NewDisposeScope();
        var p = new Parameter(zeros(2, 3)); // flat [0, 6): rank 1 owns [5, 6)
        var q = new Parameter(zeros(4));    // flat [6, 10): all rank 1's
        (string, Tensor)[] parameters = [("a.weight", p), ("b.weight", q)];
        using var whole = new AdamW(parameters, Options);
        Assert.Equal(2 * 10, whole.StateElements);

        using var sharded = new AdamW(parameters, Options);
        sharded.Shard(new SecondOfTwoRanks([6, 4]));
        Assert.Equal(2 * 5, sharded.StateElements); // half of the whole, and never made whole first

        // A checkpoint's whole moments: each rank copies its slice only.
        var saved = new Dictionary<string, Tensor>
        {
            ["a.weight.exp_avg"] = arange(6f).view(2, 3), ["a.weight.exp_avg_sq"] = arange(6f).view(2, 3) + 100,
            ["b.weight.exp_avg"] = arange(4f) + 10, ["b.weight.exp_avg_sq"] = arange(4f) + 110,
        };
        sharded.LoadStateDict(saved, steps: 7);
        var state = sharded.StateDict();
        AssertClose([5], state["a.weight.exp_avg"]);
        AssertClose([105], state["a.weight.exp_avg_sq"]);
        AssertClose([10, 11, 12, 13], state["b.weight.exp_avg"]);
        AssertClose([110, 111, 112, 113], state["b.weight.exp_avg_sq"]);
        Assert.Equal(10, state.Values.Sum(t => t.numel()));
        Assert.Equal(7, sharded.Steps);

        SetGrad(p, [1, 1, 1, 1, 1, 1]); SetGrad(q, [1, 1, 1, 1]);
        whole.Step(lr: 0.1);
        Assert.Throws<InvalidOperationException>(() => whole.Shard(new SecondOfTwoRanks([6, 4]))); // its moments are whole already
    }

    static void AssertClose(double[] expected, Tensor actual)
    {
        var values = actual.data<float>().ToArray();
        Assert.Equal(expected.Length, values.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], values[i], 5e-6);
    }
}
