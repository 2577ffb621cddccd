using Substrate.Nn.Ggml;
using Substrate.Nn.Kernels;
using static TorchSharp.torch;

namespace Substrate.Nn.Quantized;

/// <summary>
/// A frozen weight (out, in) stored as quantized blocks: one uint8 tensor (out, in / values-per-block · bytes-per-block),
/// each row its blocks in order — for Q8_0 and Q4_K exactly the bytes of a GGUF tensor. <see cref="Dequantize"/> turns it
/// back into a dense (out, in) tensor with libtorch ops over the packed bytes (no per-element C# loop), the arithmetic in
/// fp32 as ggml's and bitsandbytes' dequantizers do it, then cast to the compute dtype.
/// </summary>
public sealed class QuantizedWeight : IDisposable
{
    QuantizedWeight(Tensor blocks, WeightQuantization format, int inFeatures, int outFeatures)
    {
        Blocks = blocks;
        Format = format;
        (InFeatures, OutFeatures) = (inFeatures, outFeatures);
    }

    public Tensor Blocks { get; } // (out, rowBytes) uint8
    public WeightQuantization Format { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }

    /// <summary>Bytes the blocks take (what the base costs in memory).</summary>
    public long Bytes => Blocks.numel();

    /// <summary>Quantizes a dense (out, in) weight on the CPU, rows in parallel (ggml's reference encoders for Q8_0 / Q4_K).
    /// The input is read, not kept. Throws if <c>in</c> is not a whole number of blocks.</summary>
    public static unsafe QuantizedWeight Quantize(Tensor weight, WeightQuantization format, string name = "weight")
    {
        if (weight.dim() != 2) throw new ArgumentException($"{name}: a quantized weight must be 2-D (out, in), got [{string.Join(", ", weight.shape)}]");
        int outFeatures = (int)weight.shape[0], inFeatures = (int)weight.shape[1];
        var (values, bytes) = format.Block();
        if (inFeatures % values != 0)
            throw new ArgumentException($"{name}: {inFeatures} input features are not a whole number of {format.Name()} blocks of {values}");
        int rowBytes = inFeatures / values * bytes;
        using var dense = weight.detach().to(ScalarType.Float32, CPU).contiguous();
        var blocks = empty([outFeatures, rowBytes], ScalarType.Byte);
        nint source = (nint)TensorMemory.Floats(dense);
        nint target;
        fixed (byte* b = blocks.bytes) target = (nint)b;
        Parallel.For(0, outFeatures, row =>
        {
            var x = new ReadOnlySpan<float>((float*)source + (long)row * inFeatures, inFeatures);
            var y = new Span<byte>((byte*)target + (long)row * rowBytes, rowBytes);
            if (format == WeightQuantization.Nf4)
                for (int b = 0; b < inFeatures / values; b++) Nf4.EncodeBlock(x.Slice(b * values, values), y.Slice(b * bytes, bytes));
            else GgmlQuant.Encode(x, format == WeightQuantization.Q8_0 ? GgmlType.Q8_0 : GgmlType.Q4_K, y);
        });
        return new QuantizedWeight(blocks.DetachFromDisposeScope(), format, inFeatures, outFeatures);
    }

    /// <summary>The blocks on <paramref name="device"/> (this one is disposed when it moved).</summary>
    public QuantizedWeight To(Device device)
    {
        if (Blocks.device == device) return this;
        var moved = new QuantizedWeight(Blocks.to(device).DetachFromDisposeScope(), Format, InFeatures, OutFeatures);
        Dispose();
        return moved;
    }

    /// <summary>The dense weight (out, in) in <paramref name="dtype"/>; the caller disposes it.</summary>
    public Tensor Dequantize(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var (_, bytes) = Format.Block();
        var raw = Blocks.view(OutFeatures, -1, bytes); // (out, nb, bytes)
        var dense = Format switch
        {
            WeightQuantization.Q8_0 => BlockTensors.Q8_0(raw),
            WeightQuantization.Q4_K => BlockTensors.Q4_K(raw),
            _ => BlockTensors.Nf4(raw),
        };
        return dense.view(OutFeatures, InFeatures).to(dtype).MoveToOuterDisposeScope();
    }

    public void Dispose() => Blocks.Dispose();
}
