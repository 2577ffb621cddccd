using System.Numerics;
using System.Runtime.InteropServices;
using Substrate.Nn.Kernels;
using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>
/// The fused CPU AdamW update: one vectorized pass over (p, g, m, v) per parameter, split in
/// fixed chunks across threads (<see cref="RowChunks"/>, rows of one element). Results do not depend on the thread count (element-wise update;
/// sums are reduced per fixed chunk, in chunk order).
/// </summary>
static unsafe class AdamWKernel
{
    const int Chunk = 1 << 15;

    /// <summary>decay = 1 − lr·wd; stepSize = −lr / (1 − β1^t); bc2Sqrt = √(1 − β2^t).</summary>
    public readonly record struct Constants(float Beta1, float Beta2, float Eps, float Decay, float StepSize, float Bc2Sqrt, float GradScale);

    public static void Update(Tensor param, Tensor grad, Tensor expAvg, Tensor expAvgSq, Constants c)
    {
        float* p = TensorMemory.Floats(param), g = TensorMemory.Floats(grad), m = TensorMemory.Floats(expAvg), v = TensorMemory.Floats(expAvgSq);
        RowChunks.For(param.numel(), Chunk, (_, start, end) => UpdateRange(p, g, m, v, start, end, c));
    }

    static void UpdateRange(float* p, float* g, float* m, float* v, long start, long end, Constants c)
    {
        long i = start;
        int w = Vector<float>.Count;
        var b1 = new Vector<float>(c.Beta1); var a1 = new Vector<float>(1 - c.Beta1);
        var b2 = new Vector<float>(c.Beta2); var a2 = new Vector<float>(1 - c.Beta2);
        var eps = new Vector<float>(c.Eps); var decay = new Vector<float>(c.Decay);
        var step = new Vector<float>(c.StepSize); var bc2 = new Vector<float>(c.Bc2Sqrt); var scale = new Vector<float>(c.GradScale);
        for (; i + w <= end; i += w)
        {
            var gi = Vector.Load(g + i) * scale;
            var mi = Vector.Load(m + i) * b1 + gi * a1;
            var vi = Vector.Load(v + i) * b2 + gi * gi * a2;
            var denom = Vector.SquareRoot(vi) / bc2 + eps;
            var pi = Vector.Load(p + i) * decay + step * (mi / denom);
            mi.Store(m + i); vi.Store(v + i); pi.Store(p + i);
        }
        for (; i < end; i++)
        {
            float gi = g[i] * c.GradScale;
            float mi = m[i] * c.Beta1 + gi * (1 - c.Beta1);
            float vi = v[i] * c.Beta2 + gi * gi * (1 - c.Beta2);
            float denom = MathF.Sqrt(vi) / c.Bc2Sqrt + c.Eps;
            p[i] = p[i] * c.Decay + c.StepSize * (mi / denom);
            m[i] = mi; v[i] = vi;
        }
    }

    /// <summary>Σ g² in double, deterministic for a given size.</summary>
    public static double SumOfSquares(Tensor grad)
    {
        float* g = TensorMemory.Floats(grad);
        long n = grad.numel();
        var partial = new double[RowChunks.Count(n, Chunk)];
        RowChunks.For(n, Chunk, (k, i, end) =>
        {
            var acc = Vector<float>.Zero;
            int w = Vector<float>.Count;
            for (; i + w <= end; i += w) { var x = Vector.Load(g + i); acc += x * x; }
            double sum = Vector.Sum(acc);
            for (; i < end; i++) sum += (double)g[i] * g[i];
            partial[k] = sum;
        });
        double total = 0;
        foreach (var x in partial) total += x;
        return total;
    }
}
