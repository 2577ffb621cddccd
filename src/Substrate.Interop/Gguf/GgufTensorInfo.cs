using Substrate.Nn.Ggml;
namespace Substrate.Interop.Gguf;

/// <summary>
/// One tensor of a GGUF file. <see cref="Dims"/> are ggml's ne[], innermost (fastest-varying) first;
/// <see cref="Shape"/> is the same shape in row-major (PyTorch) order. <see cref="Offset"/> is relative
/// to the start of the data section.
/// </summary>
public sealed record GgufTensorInfo(string Name, long[] Dims, GgmlType Type, long Offset, long ByteCount)
{
    public long[] Shape => Dims.Reverse().ToArray();

    public long ElementCount => Dims.Aggregate(1L, (a, d) => a * d);

    public override string ToString() => $"{Name} {Type} [{string.Join(", ", Shape)}]";
}
