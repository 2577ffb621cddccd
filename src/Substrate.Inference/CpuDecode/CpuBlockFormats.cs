namespace Substrate.Inference.CpuDecode;

/// <summary>The block format the activations are quantized to before a block-format row multiplies them (ggml's
/// vec_dot_type of the weight's type).</summary>
public enum ActivationFormat { Float, Q8_0, Q8_1, Q8_K }

/// <summary>
/// One ggml block type as the CPU decoder multiplies it in place: values and bytes per block, the activation format its
/// dot product reads, the batch-1 dot product (a row of <c>blocks</c> blocks · activations quantized once per
/// matrix-vector product) and the row dequantizer (embedding lookups).
/// </summary>
public readonly unsafe struct CpuBlockFormat(int values, int bytes, ActivationFormat activation,
    delegate*<byte*, byte*, int, float> dot, delegate*<byte*, float*, int, void> dequantize)
{
    public readonly int Values = values, Bytes = bytes;
    public readonly ActivationFormat Activation = activation;

    /// <summary>(row, activations, blocks) → the row's dot product with the activations.</summary>
    public readonly delegate*<byte*, byte*, int, float> Dot = dot;

    /// <summary>(row, y, n) → y = the row's n values as fp32.</summary>
    public readonly delegate*<byte*, float*, int, void> Dequantize = dequantize;
}

/// <summary>The table of block formats by <see cref="WeightFormat"/>: the one place a block type's geometry and kernels
/// are named, read by the decoder's dispatch and by any multi-row product that reuses the per-type dot products.</summary>
public static unsafe class CpuBlockFormats
{
    private static readonly CpuBlockFormat[] Table = Build();

    private static CpuBlockFormat[] Build()
    {
        var table = new CpuBlockFormat[Enum.GetValues<WeightFormat>().Length];
        const int k = CpuKQuantKernels.Values, b32 = CpuQuantKernels.Q8_0Values;
        table[(int)WeightFormat.Q8_0] = new(b32, CpuQuantKernels.Q8_0Bytes, ActivationFormat.Q8_0, &CpuQuantKernels.DotQ8_0, &CpuQuantKernels.DequantizeQ8_0);
        table[(int)WeightFormat.Q4_0] = new(b32, CpuQ4Q5Kernels.Q4_0Bytes, ActivationFormat.Q8_0, &CpuQ4Q5Kernels.DotQ4_0, &CpuQ4Q5Kernels.DequantizeQ4_0);
        table[(int)WeightFormat.Q5_0] = new(b32, CpuQ4Q5Kernels.Q5_0Bytes, ActivationFormat.Q8_0, &CpuQ4Q5Kernels.DotQ5_0, &CpuQ4Q5Kernels.DequantizeQ5_0);
        table[(int)WeightFormat.Q4_1] = new(b32, CpuQ4Q5Kernels.Q4_1Bytes, ActivationFormat.Q8_1, &CpuQ4Q5Kernels.DotQ4_1, &CpuQ4Q5Kernels.DequantizeQ4_1);
        table[(int)WeightFormat.Q5_1] = new(b32, CpuQ4Q5Kernels.Q5_1Bytes, ActivationFormat.Q8_1, &CpuQ4Q5Kernels.DotQ5_1, &CpuQ4Q5Kernels.DequantizeQ5_1);
        table[(int)WeightFormat.Q2_K] = new(k, CpuQ2Q3KKernels.Q2_KBytes, ActivationFormat.Q8_K, &CpuQ2Q3KKernels.DotQ2_K, &CpuQ2Q3KKernels.DequantizeQ2_K);
        table[(int)WeightFormat.Q3_K] = new(k, CpuQ2Q3KKernels.Q3_KBytes, ActivationFormat.Q8_K, &CpuQ2Q3KKernels.DotQ3_K, &CpuQ2Q3KKernels.DequantizeQ3_K);
        table[(int)WeightFormat.Q4_K] = new(k, CpuKQuantKernels.Q4_KBytes, ActivationFormat.Q8_K, &CpuKQuantKernels.DotQ4_K, &CpuKQuantKernels.DequantizeQ4_K);
        table[(int)WeightFormat.Q5_K] = new(k, CpuKQuantKernels.Q5_KBytes, ActivationFormat.Q8_K, &CpuKQuantKernels.DotQ5_K, &CpuKQuantKernels.DequantizeQ5_K);
        table[(int)WeightFormat.Q6_K] = new(k, CpuKQuantKernels.Q6_KBytes, ActivationFormat.Q8_K, &CpuKQuantKernels.DotQ6_K, &CpuKQuantKernels.DequantizeQ6_K);
        return table;
    }

    /// <summary>Whether <paramref name="format"/> is a block type (not fp32, bf16 or fp16).</summary>
    public static bool IsBlock(WeightFormat format) => format >= WeightFormat.Q8_0;

    /// <summary>The block type <paramref name="format"/> (which must be one: <see cref="IsBlock"/>).</summary>
    public static ref readonly CpuBlockFormat For(WeightFormat format)
    {
        if (!IsBlock(format)) throw new ArgumentException($"{format} is not a block format", nameof(format));
        return ref Table[(int)format];
    }

    /// <summary>Bytes of <paramref name="n"/> activations quantized to <paramref name="activation"/> (whole blocks).</summary>
    public static int ActivationBytes(ActivationFormat activation, int n) => activation switch
    {
        ActivationFormat.Q8_0 => n / CpuQuantKernels.Q8_0Values * CpuQuantKernels.Q8_0Bytes,
        ActivationFormat.Q8_1 => n / CpuQuantKernels.Q8_0Values * CpuQ4Q5Kernels.Q8_1Bytes,
        ActivationFormat.Q8_K => n / CpuKQuantKernels.Values * CpuKQuantKernels.Q8_KBytes,
        _ => 4 * n,
    };

    /// <summary>Quantizes <paramref name="n"/> floats to <paramref name="activation"/> blocks at <paramref name="y"/>.</summary>
    public static void QuantizeActivations(ActivationFormat activation, float* x, byte* y, int n)
    {
        switch (activation)
        {
            case ActivationFormat.Q8_0: CpuQuantKernels.QuantizeQ8_0(x, y, n); break;
            case ActivationFormat.Q8_1: CpuQ4Q5Kernels.QuantizeQ8_1(x, y, n); break;
            case ActivationFormat.Q8_K: CpuKQuantKernels.QuantizeQ8_K(x, y, n); break;
            default: throw new ArgumentException($"{activation} is not a block format", nameof(activation));
        }
    }
}
