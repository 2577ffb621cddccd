using System.Runtime.Intrinsics;

namespace Substrate.Nn.Kernels;

/// <summary>
/// The three passes of a softmax over one contiguous fp32 row, 16 lanes at a time where AVX-512 is native, else 8:
/// the maximum, e = exp(x − max) with Σe, and a scale. Shared by the causal-softmax and cross-entropy kernels.
/// Σe is accumulated per lane, so its last bits depend on the lane count (as any vectorized sum's do).
/// </summary>
public static unsafe class SoftmaxRow
{
    public static float Max(float* x, int n)
    {
        int i = 0;
        var lanes = Vector256.Create(float.NegativeInfinity);
        if (Vector512.IsHardwareAccelerated)
        {
            var wide = Vector512.Create(float.NegativeInfinity);
            for (; i + 16 <= n; i += 16) wide = Vector512.Max(wide, Vector512.Load(x + i));
            lanes = Vector256.Max(wide.GetLower(), wide.GetUpper());
        }
        for (; i + 8 <= n; i += 8) lanes = Vector256.Max(lanes, Vector256.Load(x + i));
        float max = float.NegativeInfinity;
        for (int k = 0; k < 8; k++) max = MathF.Max(max, lanes.GetElement(k));
        for (; i < n; i++) max = MathF.Max(max, x[i]);
        return max;
    }

    /// <summary>e[i] = exp(x[i] − max) (e may be x); returns Σe.</summary>
    public static double ExpAndSum(float* x, float* e, int n, float max)
    {
        int i = 0;
        var sum = Vector256<float>.Zero;
        if (Vector512.IsHardwareAccelerated)
        {
            var (wideMax, wideSum) = (Vector512.Create(max), Vector512<float>.Zero);
            for (; i + 16 <= n; i += 16)
            {
                var v = FastExp.Exp(Vector512.Load(x + i) - wideMax);
                v.Store(e + i);
                wideSum += v;
            }
            sum = wideSum.GetLower() + wideSum.GetUpper();
        }
        for (var m = Vector256.Create(max); i + 8 <= n; i += 8)
        {
            var v = FastExp.Exp(Vector256.Load(x + i) - m);
            v.Store(e + i);
            sum += v;
        }
        double total = Vector256.Sum(sum);
        for (; i < n; i++) total += e[i] = FastExp.Exp(x[i] - max);
        return total;
    }

    /// <summary>x[i] *= factor.</summary>
    public static void Scale(float* x, int n, float factor)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (var f = Vector512.Create(factor); i + 16 <= n; i += 16) (Vector512.Load(x + i) * f).Store(x + i);
        for (var f = Vector256.Create(factor); i + 8 <= n; i += 8) (Vector256.Load(x + i) * f).Store(x + i);
        for (; i < n; i++) x[i] *= factor;
    }
}
