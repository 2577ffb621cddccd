using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Nn.Kernels;

/// <summary>
/// RMSNorm as one autograd node with hand-written CPU passes: y = (x · r) · w with r = 1/√(mean(x²) + eps),
/// written straight in the output dtype (fp32 or bf16, so no separate cast), and in backward, per row,
/// dx = r·g − x·(r³/H)·Σ g·x with g = dy·w, and dw = Σ_rows dy·x·r. libtorch's composition of square, mean,
/// rsqrt, two products and a cast costs about ten passes over (N, H) in backward; this costs two.
/// Rows are split in fixed chunks and dw is summed per chunk in chunk order, so results do not depend on
/// the thread count. Input: x (…, H) fp32 contiguous on CPU, weight (H) fp32.
/// </summary>
public sealed unsafe class FusedRmsNorm : autograd.SingleTensorFunction<FusedRmsNorm>
{
    const int RowsPerChunk = 64;

    public override string Name => nameof(FusedRmsNorm);

    /// <summary>True where <see cref="Apply"/> runs: CPU, fp32 contiguous input and weight, output fp32 or bf16.</summary>
    public static bool Supports(Tensor x, Tensor weight, ScalarType outputDtype) =>
        x.device_type == DeviceType.CPU && x.dtype == ScalarType.Float32 && x.is_contiguous()
        && weight.dtype == ScalarType.Float32 && weight.is_contiguous() && x.shape[^1] == weight.shape[0]
        && outputDtype is ScalarType.Float32 or ScalarType.BFloat16;

    public static Tensor Apply(Tensor x, Tensor weight, double eps, ScalarType outputDtype) => apply(x, weight, eps, outputDtype);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (x, weight, eps, dtype) = ((Tensor)vars[0], (Tensor)vars[1], (double)vars[2], (ScalarType)vars[3]);
        int h = (int)weight.shape[0];
        long rows = x.numel() / h;
        var y = empty(x.shape, dtype);
        var inverseRms = empty(rows); // (N) fp32, kept for backward
        float* xp = TensorMemory.Floats(x), wp = TensorMemory.Floats(weight), rp = TensorMemory.Floats(inverseRms);
        bool bf16 = dtype == ScalarType.BFloat16;
        void* yp = bf16 ? TensorMemory.BFloat16s(y) : TensorMemory.Floats(y);
        RowChunks.For(rows, RowsPerChunk, (_, start, end) =>
        {
            for (long r = start; r < end; r++)
                rp[r] = NormalizeRow(xp + r * h, wp, h, (float)eps, bf16 ? (ushort*)yp + r * h : null, bf16 ? null : (float*)yp + r * h);
        });
        ctx.save_for_backward([x, weight, inverseRms]);
        return y;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var (x, weight, inverseRms) = (saved[0], saved[1], saved[2]);
        int h = (int)weight.shape[0];
        long rows = x.numel() / h;
        using var dy = gradOutput.contiguous();
        var dx = empty(x.shape);
        float* xp = TensorMemory.Floats(x), wp = TensorMemory.Floats(weight), rp = TensorMemory.Floats(inverseRms), dxp = TensorMemory.Floats(dx);
        bool bf16 = dy.dtype == ScalarType.BFloat16;
        void* dyp = bf16 ? TensorMemory.BFloat16s(dy) : TensorMemory.Floats(dy);
        int chunks = RowChunks.Count(rows, RowsPerChunk);
        var partialDw = new float[chunks * h]; // one dw per chunk, summed in chunk order below
        RowChunks.For(rows, RowsPerChunk, (c, start, end) =>
        {
            var g = stackalloc float[h];
            fixed (float* dw = &partialDw[c * h])
                for (long r = start; r < end; r++)
                {
                    if (bf16) BFloat16Bits.Widen((ushort*)dyp + r * h, g, h);
                    else new ReadOnlySpan<float>((float*)dyp + r * h, h).CopyTo(new Span<float>(g, h));
                    BackwardRow(xp + r * h, wp, g, rp[r], h, dxp + r * h, dw);
                }
        });
        var dWeight = zeros(h);
        float* dwp = TensorMemory.Floats(dWeight);
        for (int c = 0; c < chunks; c++)
            for (int i = 0; i < h; i++) dwp[i] += partialDw[c * h + i];
        return [dx, dWeight, null!, null!];
    }

    /// <summary>One row: returns r and writes (x·r)·w into yBf16 or yF32.</summary>
    static float NormalizeRow(float* x, float* w, int h, float eps, ushort* yBf16, float* yF32)
    {
        int i = 0;
        var acc = Vector256<float>.Zero;
        for (; i + 8 <= h; i += 8) { var v = Vector256.Load(x + i); acc += v * v; }
        float sum = Vector256.Sum(acc);
        for (; i < h; i++) sum += x[i] * x[i];
        float r = 1f / MathF.Sqrt(sum / h + eps);
        var vr = Vector256.Create(r);
        for (i = 0; i + 8 <= h; i += 8)
        {
            var y = Vector256.Load(x + i) * vr * Vector256.Load(w + i);
            if (yBf16 != null) BFloat16Bits.Store8(y, yBf16 + i); else y.Store(yF32 + i);
        }
        for (; i < h; i++)
        {
            float y = x[i] * r * w[i];
            if (yBf16 != null) yBf16[i] = BFloat16Bits.FromSingle(y); else yF32[i] = y;
        }
        return r;
    }

    /// <summary>One row of backward; dy arrives in g (fp32) and is overwritten.</summary>
    static void BackwardRow(float* x, float* w, float* g, float r, int h, float* dx, float* dw)
    {
        int i = 0;
        var vr = Vector256.Create(r);
        var dot = Vector256<float>.Zero;
        for (; i + 8 <= h; i += 8)
        {
            var dy = Vector256.Load(g + i);
            var xv = Vector256.Load(x + i);
            (Vector256.Load(dw + i) + dy * xv * vr).Store(dw + i);
            var gv = dy * Vector256.Load(w + i);
            gv.Store(g + i);
            dot += gv * xv;
        }
        float dotSum = Vector256.Sum(dot);
        for (; i < h; i++) { dw[i] += g[i] * x[i] * r; g[i] *= w[i]; dotSum += g[i] * x[i]; }
        float c = dotSum * r * r * r / h;
        var vc = Vector256.Create(c);
        for (i = 0; i + 8 <= h; i += 8) (Vector256.Load(g + i) * vr - Vector256.Load(x + i) * vc).Store(dx + i);
        for (; i < h; i++) dx[i] = g[i] * r - x[i] * c;
    }
}
