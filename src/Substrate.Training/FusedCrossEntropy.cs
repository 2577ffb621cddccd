using Substrate.Nn.Kernels;
using static TorchSharp.torch;

namespace Substrate.Training;

/// <summary>
/// Mean cross-entropy of (N, V) fp32 or bf16 logits against N target ids, and its gradient, in one fused
/// CPU pass per row: max, Σexp (exponentials stored in the gradient buffer), then grad = scale · (softmax − onehot) / N
/// in the logits' dtype. The caller back-propagates with
/// <c>logits.backward(grad)</c>. bf16 logits are widened exactly and the loss is computed in fp32, as an fp32
/// copy would give; the bf16 gradient is what the backward of that copy would hand the LM head anyway.
/// Replaces libtorch's log_softmax + nll_loss forward and backward (about five passes over the
/// logits, the largest activation of a small-model step) with three. Row results do not depend
/// on the thread count; the loss is summed in row order.
/// </summary>
public static unsafe class FusedCrossEntropy
{
    [ThreadStatic] static float[]? rows; // bf16 path: a widened row and its fp32 gradient, per thread

    /// <summary>True where <see cref="Run"/> applies: CPU, fp32 or bf16, contiguous (N, V).</summary>
    public static bool Supports(Tensor logits) =>
        logits.device_type == TorchSharp.DeviceType.CPU && logits.dtype is ScalarType.Float32 or ScalarType.BFloat16
        && logits.is_contiguous() && logits.dim() == 2;

    /// <summary>
    /// Returns the mean loss; writes d(scale · loss)/d(logits) into <paramref name="grad"/> ((N, V), the logits' dtype, contiguous, CPU).
    /// </summary>
    public static double Run(Tensor logits, ReadOnlySpan<long> targets, Tensor grad, double scale = 1.0)
    {
        long n = logits.shape[0];
        return Rows(logits, targets, grad, (float)(scale / n), ignoreIndex: null) / n;
    }

    /// <summary>
    /// Returns the loss summed over the targets other than <paramref name="ignoreIndex"/>; writes d(scale · sum)/d(logits) into
    /// <paramref name="grad"/> (rows of ignored targets get zeros). The masked loss of fine-tuning.
    /// </summary>
    public static double RunSum(Tensor logits, ReadOnlySpan<long> targets, Tensor grad, double scale, long ignoreIndex) =>
        Rows(logits, targets, grad, (float)scale, ignoreIndex);

    static double Rows(Tensor logits, ReadOnlySpan<long> targets, Tensor grad, float rowScale, long? ignoreIndex)
    {
        long n = logits.shape[0];
        int v = (int)logits.shape[1];
        if (targets.Length != n) throw new ArgumentException($"{targets.Length} targets for {n} rows");
        if (!grad.shape.SequenceEqual(logits.shape) || grad.dtype != logits.dtype || !grad.is_contiguous())
            throw new ArgumentException("grad must be a contiguous tensor shaped like the logits, of their dtype");
        foreach (var t in targets)
            if ((ulong)t >= (ulong)v && t != ignoreIndex) throw new ArgumentException($"target id {t} outside the vocabulary (V = {v})");
        var ids = targets.ToArray();
        var losses = new double[n];
        long ignored = ignoreIndex ?? -1;
        if (logits.dtype == ScalarType.BFloat16)
        {
            ushort* xb = TensorMemory.BFloat16s(logits), gb = TensorMemory.BFloat16s(grad);
            RowChunks.For(n, 1, (_, r, _) =>
            {
                if (ids[r] == ignored) new Span<ushort>(gb + r * v, v).Clear();
                else losses[r] = RowBFloat16(xb + r * v, gb + r * v, v, (int)ids[r], rowScale);
            });
        }
        else
        {
            float* x = TensorMemory.Floats(logits), g = TensorMemory.Floats(grad);
            RowChunks.For(n, 1, (_, r, _) =>
            {
                if (ids[r] == ignored) new Span<float>(g + r * v, v).Clear();
                else losses[r] = Row(x + r * v, g + r * v, v, (int)ids[r], rowScale);
            });
        }
        double sum = 0;
        foreach (var l in losses) sum += l;
        return sum;
    }

    static double Row(float* x, float* g, int v, int target, float scale)
    {
        float max = SoftmaxRow.Max(x, v);
        double sum = SoftmaxRow.ExpAndSum(x, g, v, max); // g = exp(x − max)
        SoftmaxRow.Scale(g, v, (float)(scale / sum));    // g = scale · softmax
        g[target] -= scale;                              // − scale · onehot
        return max + Math.Log(sum) - x[target]; // log Σexp − x_target
    }

    /// <summary>A bf16 row: widened (exactly) into a per-thread fp32 row, through <see cref="Row"/>, and the gradient
    /// rounded back to bf16. The row is a few tens of KB, so the two extra passes stay in cache.</summary>
    static double RowBFloat16(ushort* x, ushort* g, int v, int target, float scale)
    {
        var row = rows is { } buffer && buffer.Length >= 2 * v ? buffer : rows = new float[2 * v];
        fixed (float* xf = row)
        {
            float* gf = xf + v;
            BFloat16Bits.Widen(x, xf, v);
            double loss = Row(xf, gf, v, target, scale);
            BFloat16Bits.Narrow(gf, g, v);
            return loss;
        }
    }
}
