using Substrate.Nn.Ggml;
using Substrate.Nn.Kernels;
using static TorchSharp.torch;

namespace Substrate.Nn.Quantized;

/// <summary>
/// A frozen weight (out, in) stored as quantized blocks: one uint8 tensor (out, in / values-per-block · bytes-per-block),
/// each row its blocks in order — for Q8_0 and Q4_K exactly the bytes of a GGUF tensor. <see cref="Dequantize"/> turns it
/// back into a dense (out, in) tensor (ggml's scalar decoders on the CPU, libtorch ops over the packed bytes elsewhere), the arithmetic in
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
    /// The input is read, not kept: a bf16 CPU weight (what a QLoRA base folder holds) is widened a row at a time into a buffer of
    /// the worker's own (exact), so no fp32 copy of it — twice its size — exists while the base loads. Throws if <c>in</c> is not a
    /// whole number of blocks.</summary>
    public static unsafe QuantizedWeight Quantize(Tensor weight, WeightQuantization format, string name = "weight")
    {
        if (weight.dim() != 2) throw new ArgumentException($"{name}: a quantized weight must be 2-D (out, in), got [{string.Join(", ", weight.shape)}]");
        int outFeatures = (int)weight.shape[0], inFeatures = (int)weight.shape[1];
        var (values, bytes) = format.Block();
        if (inFeatures % values != 0)
            throw new ArgumentException($"{name}: {inFeatures} input features are not a whole number of {format.Name()} blocks of {values}");
        int rowBytes = inFeatures / values * bytes;
        bool bfloat16 = weight.dtype == ScalarType.BFloat16 && weight.device_type == TorchSharp.DeviceType.CPU;
        using var dense = bfloat16 ? weight.detach().contiguous() : weight.detach().to(ScalarType.Float32, CPU).contiguous();
        var blocks = empty([outFeatures, rowBytes], ScalarType.Byte);
        nint source = bfloat16 ? (nint)TensorMemory.BFloat16s(dense) : (nint)TensorMemory.Floats(dense);
        nint target;
        fixed (byte* b = blocks.bytes) target = (nint)b;
        RowChunks.For(outFeatures, 16, (_, first, end) =>
        {
            var widened = bfloat16 ? new float[inFeatures] : null; // (in) fp32, this chunk's row
            for (long row = first; row < end; row++)
            {
                if (widened is not null) fixed (float* w = widened) BFloat16Bits.Widen((ushort*)source + row * inFeatures, w, inFeatures);
                var x = widened ?? new ReadOnlySpan<float>((float*)source + row * inFeatures, inFeatures);
                var y = new Span<byte>((byte*)target + row * rowBytes, rowBytes);
                if (format == WeightQuantization.Nf4)
                    for (int b = 0; b < inFeatures / values; b++) Nf4.EncodeBlock(x.Slice(b * values, values), y.Slice(b * bytes, bytes));
                else GgmlQuant.Encode(x, format == WeightQuantization.Q8_0 ? GgmlType.Q8_0 : GgmlType.Q4_K, y);
            }
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

    /// <summary>The dense weight (out, in) in <paramref name="dtype"/>; the caller disposes it. See the tile overload.</summary>
    public Tensor Dequantize(ScalarType dtype) => Dequantize(dtype, 0, OutFeatures, 0, InFeatures);

    /// <summary>Rows [<paramref name="firstRow"/>, +<paramref name="rowCount"/>) and columns [<paramref name="firstColumn"/>,
    /// +<paramref name="columnCount"/>) of the dense weight, (rowCount, columnCount) in <paramref name="dtype"/>; the columns are whole
    /// blocks. The caller disposes it. On the CPU the blocks are decoded by the scalar decoders, rows in chunks on libtorch's threads
    /// (<see cref="DecodeRows"/>: 5–10× faster than the libtorch-op path here, whose integer passes dominate) — straight into bf16 when
    /// that is the dtype, so no fp32 copy of the tile exists; elsewhere by libtorch ops (<see cref="DequantizeWithTensorOps"/>). Both
    /// are bit-identical, and a tile holds exactly the values of the whole weight there.</summary>
    public Tensor Dequantize(ScalarType dtype, long firstRow, long rowCount, int firstColumn, int columnCount)
    {
        var (values, _) = Format.Block();
        if (firstRow < 0 || rowCount < 0 || firstRow + rowCount > OutFeatures || firstColumn % values != 0 || columnCount % values != 0
            || firstColumn < 0 || columnCount < 0 || firstColumn + columnCount > InFeatures)
            throw new ArgumentOutOfRangeException(nameof(firstRow),
                $"tile rows {firstRow}+{rowCount}, columns {firstColumn}+{columnCount} of a ({OutFeatures}, {InFeatures}) weight in blocks of {values}");
        if (Blocks.device_type != TorchSharp.DeviceType.CPU) return DequantizeWithTensorOps(dtype, firstRow, rowCount, firstColumn, columnCount);
        if (dtype == ScalarType.BFloat16) return DecodeRows(true, firstRow, rowCount, firstColumn, columnCount);
        using var dense = DecodeRows(false, firstRow, rowCount, firstColumn, columnCount);
        return dense.to(dtype);
    }

    /// <summary>The libtorch-op dequantizer (any device): integer ops over the packed bytes (<see cref="BlockTensors"/>).</summary>
    public Tensor DequantizeWithTensorOps(ScalarType dtype) => DequantizeWithTensorOps(dtype, 0, OutFeatures, 0, InFeatures);

    Tensor DequantizeWithTensorOps(ScalarType dtype, long firstRow, long rowCount, int firstColumn, int columnCount)
    {
        using var scope = NewDisposeScope();
        var (values, bytes) = Format.Block();
        var raw = Blocks.narrow(0, firstRow, rowCount).view(rowCount, -1, bytes).narrow(1, firstColumn / values, columnCount / values); // (rows, nb, bytes)
        var dense = Format switch
        {
            WeightQuantization.Q8_0 => BlockTensors.Q8_0(raw),
            WeightQuantization.Q4_K => BlockTensors.Q4_K(raw),
            _ => BlockTensors.Nf4(raw),
        };
        return dense.reshape(rowCount, columnCount).to(dtype).MoveToOuterDisposeScope();
    }

    /// <summary>(rows, columns) fp32, or bf16 where <paramref name="bfloat16"/>, from the CPU blocks: ggml's dequantize_row_* and
    /// <see cref="Nf4.DecodeBlock"/> over each row's blocks of the tile, 16 rows a chunk. For bf16 each row is decoded into one fp32 row
    /// of the chunk's own and narrowed as libtorch's .to(bf16) rounds (<see cref="BFloat16Bits.Narrow"/>): no fp32 tile exists.</summary>
    unsafe Tensor DecodeRows(bool bfloat16, long firstRow, long rowCount, int firstColumn, int columnCount)
    {
        var dense = empty([rowCount, columnCount], bfloat16 ? ScalarType.BFloat16 : ScalarType.Float32);
        var (values, bytes) = Format.Block();
        int rowBytes = (int)Blocks.shape[1], skipBytes = firstColumn / values * bytes, tileBytes = columnCount / values * bytes;
        var type = Format == WeightQuantization.Q8_0 ? GgmlType.Q8_0 : GgmlType.Q4_K;
        bool nf4 = Format == WeightQuantization.Nf4;
        nint target = bfloat16 ? (nint)TensorMemory.BFloat16s(dense) : (nint)TensorMemory.Floats(dense), source;
        fixed (byte* b = Blocks.bytes) source = (nint)b;
        RowChunks.For(rowCount, 16, (_, first, end) =>
        {
            var decoded = bfloat16 ? new float[columnCount] : null; // (columns) fp32, this chunk's row before narrowing
            for (long row = first; row < end; row++)
            {
                var x = new ReadOnlySpan<byte>((byte*)source + (firstRow + row) * rowBytes + skipBytes, tileBytes);
                var y = decoded ?? new Span<float>((float*)target + row * columnCount, columnCount);
                if (!nf4) GgmlQuant.Decode(x, type, y);
                else for (int k = 0; k < columnCount / values; k++) Nf4.DecodeBlock(x.Slice(k * bytes, bytes), y.Slice(k * values, values));
                if (decoded is null) continue;
                fixed (float* p = decoded) BFloat16Bits.Narrow(p, (ushort*)target + row * columnCount, columnCount);
            }
        });
        return dense;
    }

    public void Dispose() => Blocks.Dispose();
}
