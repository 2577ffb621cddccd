using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Nn.Kernels;

/// <summary>
/// Rotary embeddings on the stacked q/k/v projection as one autograd node: in qkv (…, T, W), each head of the first
/// <c>rotated</c> columns becomes x·cos + [x₂, x₁]·signedSin (Hugging Face rotate_half; the sign is folded into the
/// sin table), the first <c>scaled</c> columns (the queries) are also multiplied by <c>scale</c> (attention's 1/√hd,
/// so the scores need no pass of their own), and the remaining columns (the values) are copied. Backward is the
/// transposed rotation: dx = dy·cos + [dy₂·sin₂, dy₁·sin₁]. libtorch's roll, two products and a sum, with their
/// backwards, cost about nine passes over q and k; this costs one each way, in fp32 arithmetic.
/// cos/sin: (T, 1, hd) or (B·T, 1, hd) (a position per row), fp32 or bf16. Rows run in fixed chunks.
/// </summary>
public sealed unsafe class FusedRotary : autograd.SingleTensorFunction<FusedRotary>
{
    const int RowsPerChunk = 32;

    public override string Name => nameof(FusedRotary);

    /// <summary>True where <see cref="Apply"/> runs: CPU, fp32 or bf16, contiguous, an even head dim.</summary>
    public static bool Supports(Tensor qkv, Tensor cos, int headDim) =>
        qkv.device_type == DeviceType.CPU && qkv.dtype is ScalarType.Float32 or ScalarType.BFloat16 && qkv.is_contiguous()
        && cos.is_contiguous() && cos.dtype is ScalarType.Float32 or ScalarType.BFloat16 && headDim % 2 == 0;

    public static Tensor Apply(Tensor qkv, Tensor cos, Tensor sin, int headDim, int rotated, int scaled, double scale) =>
        apply(qkv, cos, sin, headDim, rotated, scaled, scale);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (qkv, cos, sin) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2]);
        var (headDim, rotated, scaled, scale) = ((int)vars[3], (int)vars[4], (int)vars[5], (float)(double)vars[6]);
        ctx.save_for_backward([cos, sin]);
        ctx.save_data("shape", (headDim, rotated, scaled, scale));
        return Rotate(qkv, cos, sin, headDim, rotated, scaled, scale, inverse: false);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var (headDim, rotated, scaled, scale) = ((int, int, int, float))ctx.get_data("shape");
        using var dy = gradOutput.contiguous();
        return [Rotate(dy, saved[0], saved[1], headDim, rotated, scaled, scale, inverse: true), null!, null!, null!, null!, null!, null!];
    }

    /// <summary>y = R x (or Rᵀ x with <paramref name="inverse"/>) per head of the rotated columns, the rest copied.</summary>
    static Tensor Rotate(Tensor x, Tensor cos, Tensor sin, int headDim, int rotated, int scaled, float scale, bool inverse)
    {
        int width = (int)x.shape[^1], half = headDim / 2;
        long rows = x.numel() / width, positions = x.shape[^2], tableRows = cos.numel() / headDim;
        var y = empty(x.shape, x.dtype);
        var (xs, ys, c, s) = (new RowMemory(x), new RowMemory(y), new RowMemory(cos), new RowMemory(sin));
        RowChunks.For(rows, RowsPerChunk, (_, first, end) =>
        {
            for (long r = first; r < end; r++)
            {
                long at = r * width, table = (tableRows == rows ? r : r % positions) * headDim;
                for (int head = 0; head < rotated; head += headDim)
                {
                    var factor = Vector256.Create(head < scaled ? scale : 1f);
                    long a = at + head, b = a + half;
                    int j = 0;
                    for (; j + 8 <= half; j += 8)
                    {
                        // cos and signed sin of the first half (j) and the second half (half + j) of the head
                        var (cosA, cosB, sinA, sinB) = (c.Load8(table + j), c.Load8(table + half + j), s.Load8(table + j), s.Load8(table + half + j));
                        var (xa, xb) = (xs.Load8(a + j), xs.Load8(b + j));
                        if (inverse) (xa, xb) = (xa * factor, xb * factor);
                        ys.Store8(inverse ? xa * cosA + xb * sinB : (xa * cosA + xb * sinA) * factor, a + j);
                        ys.Store8(inverse ? xb * cosB + xa * sinA : (xb * cosB + xa * sinB) * factor, b + j);
                    }
                    for (; j < half; j++)
                    {
                        var (cosA, cosB, sinA, sinB) = (c[table + j], c[table + half + j], s[table + j], s[table + half + j]);
                        var (xa, xb, f) = (xs[a + j], xs[b + j], factor.ToScalar());
                        if (inverse) (xa, xb) = (xa * f, xb * f);
                        ys[a + j] = inverse ? xa * cosA + xb * sinB : (xa * cosA + xb * sinA) * f;
                        ys[b + j] = inverse ? xb * cosB + xa * sinA : (xb * cosB + xa * sinB) * f;
                    }
                }
                long v = at + rotated;
                for (; v + 8 <= at + width; v += 8) ys.Store8(xs.Load8(v), v); // the values, unchanged
                for (; v < at + width; v++) ys[v] = xs[v];
            }
        });
        return y;
    }
}
