using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Nn.Kernels;

/// <summary>
/// Causal softmax of attention scores as one autograd node: p = softmax over the keys a query may see, 0 elsewhere,
/// the arithmetic in fp32 and p written in the scores' dtype (fp32 or bf16). Backward, per row:
/// ds = p · (dp − Σ p·dp). It replaces the reference's mask (built per call), the masked add, the fp32 softmax,
/// the cast back, and their backwards: about nine passes over (…, R, S) and a fp32 copy of it, for two.
/// Rows are blocks of <c>queries</c> positions (grouped-query attention stacks the query heads that share a kv head),
/// so row r is the query at position <c>start + r mod queries</c> and sees keys 0 … that position.
/// Rows run in fixed chunks; each row is its own sum, so results do not depend on the thread count. Rows go 16 lanes
/// at a time where AVX-512 is native, else 8 (see <see cref="SoftmaxRow"/>).
/// </summary>
public sealed unsafe class FusedCausalSoftmax : autograd.SingleTensorFunction<FusedCausalSoftmax>
{
    const int RowsPerChunk = 64;

    public override string Name => nameof(FusedCausalSoftmax);

    /// <summary>True where <see cref="Apply"/> runs: CPU, fp32 or bf16, contiguous scores of at least two dimensions.</summary>
    public static bool Supports(Tensor scores) =>
        scores.device_type == DeviceType.CPU && scores.dtype is ScalarType.Float32 or ScalarType.BFloat16
        && scores.is_contiguous() && scores.dim() >= 2;

    /// <param name="scores">(…, R, S), R a multiple of <paramref name="queries"/>.</param>
    /// <param name="queries">Query positions per block of rows.</param>
    /// <param name="start">Position of the first query; keys are positions 0 … S−1.</param>
    public static Tensor Apply(Tensor scores, long queries, long start) => apply(scores, queries, start);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (scores, queries, start) = ((Tensor)vars[0], (long)vars[1], (long)vars[2]);
        int width = (int)scores.shape[^1];
        long rows = scores.numel() / width;
        if (scores.shape[^2] % queries != 0 || start + queries > width)
            throw new ArgumentException($"scores [{string.Join(", ", scores.shape)}] do not hold blocks of {queries} queries from position {start}");
        var probabilities = empty(scores.shape, scores.dtype);
        var (s, p) = (new RowMemory(scores), new RowMemory(probabilities));
        RowChunks.For(rows, RowsPerChunk, (_, first, end) =>
        {
            var row = new float[width]; // one fp32 row: the visible scores, then their exponentials, then p
            fixed (float* e = row)
                for (long r = first; r < end; r++)
                {
                    long at = r * width;
                    int visible = (int)(start + r % queries) + 1;
                    s.Read(at, e, visible);
                    double sum = SoftmaxRow.ExpAndSum(e, e, visible, SoftmaxRow.Max(e, visible));
                    SoftmaxRow.Scale(e, visible, (float)(1 / sum));
                    p.Write(e, at, visible);
                    p.Clear(at + visible, width - visible);
                }
        });
        ctx.save_for_backward([probabilities]);
        ctx.save_data("queries", queries);
        ctx.save_data("start", start);
        return probabilities;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var probabilities = ctx.get_saved_variables()[0];
        var (queries, start) = ((long)ctx.get_data("queries"), (long)ctx.get_data("start"));
        int width = (int)probabilities.shape[^1];
        long rows = probabilities.numel() / width;
        using var dp = gradOutput.to(probabilities.dtype).contiguous();
        var dScores = empty(probabilities.shape, probabilities.dtype);
        var (p, g, ds) = (new RowMemory(probabilities), new RowMemory(dp), new RowMemory(dScores));
        RowChunks.For(rows, RowsPerChunk, (_, first, end) =>
        {
            for (long r = first; r < end; r++)
            {
                long at = r * width;
                int visible = (int)(start + r % queries) + 1;
                var dotV = Vector256<float>.Zero;
                int k = 0;
                if (Vector512.IsHardwareAccelerated)
                {
                    var wide = Vector512<float>.Zero;
                    for (; k + 16 <= visible; k += 16) wide += p.Load16(at + k) * g.Load16(at + k);
                    dotV = wide.GetLower() + wide.GetUpper();
                }
                for (; k + 8 <= visible; k += 8) dotV += p.Load8(at + k) * g.Load8(at + k);
                float dot = Vector256.Sum(dotV);
                for (; k < visible; k++) dot += p[at + k] * g[at + k];
                k = 0;
                if (Vector512.IsHardwareAccelerated)
                    for (var wideDot = Vector512.Create(dot); k + 16 <= visible; k += 16) ds.Store16(p.Load16(at + k) * (g.Load16(at + k) - wideDot), at + k);
                var dotB = Vector256.Create(dot);
                for (; k + 8 <= visible; k += 8) ds.Store8(p.Load8(at + k) * (g.Load8(at + k) - dotB), at + k);
                for (; k < visible; k++) ds[at + k] = p[at + k] * (g[at + k] - dot);
                ds.Clear(at + visible, width - visible);
            }
        });
        return [dScores, null!, null!];
    }
}
