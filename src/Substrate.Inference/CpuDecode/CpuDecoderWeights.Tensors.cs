using Substrate.Models;

namespace Substrate.Inference.CpuDecode;

/// <summary>One weight in native memory that someone else owns (a mapped GGUF file): its data, how its elements lie,
/// and its row-major shape, (rows, cols) for a matrix.</summary>
public readonly record struct CpuDecoderTensor(nint Data, WeightFormat Format, long[] Shape);

internal sealed partial class CpuDecoderWeights
{
    /// <summary>The weights named by their Hugging Face parameter names in <paramref name="tensors"/>: matrices are
    /// views (ggml blocks stay blocks), norm and bias vectors are copied to pinned fp32 arrays.</summary>
    /// <param name="interleavedQk">q/k rows in ggml's interleaved rotary pairs (a llama-arch GGUF) rather than HF's
    /// rotate_half halves; the decoder puts each computed head back in HF order.</param>
    public CpuDecoderWeights(ModelConfig config, Func<string, CpuDecoderTensor> tensors, bool interleavedQk)
    {
        var h = config.HiddenSize;
        unsafe WeightMatrix Matrix(string name, int rows, int cols)
        {
            var t = ExpertRows(tensors(name), name, rows, cols);
            if (t.Shape.Length != 2 || t.Shape[0] != rows || t.Shape[1] != cols)
                throw new InvalidDataException($"{name} has shape [{string.Join(", ", t.Shape)}]; expected [{rows}, {cols}]");
            var block = CpuBlockFormats.IsBlock(t.Format) ? CpuBlockFormats.For(t.Format).Values : 1;
            if (cols % block != 0)
                throw new InvalidDataException($"{name}: {t.Format} rows of {cols} are not whole blocks");
            return new WeightMatrix((void*)t.Data, rows, cols, t.Format);
        }
        unsafe float[] Vector(string name, int? length = null)
        {
            var n = length ?? h;
            var t = tensors(name);
            if (t.Shape.Length != 1 || t.Shape[0] != n) throw new InvalidDataException($"{name} has shape [{string.Join(", ", t.Shape)}]; expected [{n}]");
            var values = GC.AllocateUninitializedArray<float>(n, pinned: true); // the decoder reads it through a pointer
            fixed (float* y = values) CpuKernels.Row(new WeightMatrix((void*)t.Data, 1, n, t.Format), 0, y);
            return values;
        }

        InterleavedQk = interleavedQk;
        // Norms as stored: a gemma3 GGUF already holds 1 + w.
        (Embedding, Layers, FinalNorm, Head) = Build(config, Matrix, (name, length) => Vector(name, length), (name, length) => Vector(name, length));
    }

    /// <summary>An expert's (rows, cols) within a stacked (E, rows, cols) tensor (llama.cpp's ffn_*_exps), by the expert index
    /// in its HF name (<c>….experts.3.w1.weight</c>); other tensors as they are.</summary>
    private static unsafe CpuDecoderTensor ExpertRows(CpuDecoderTensor t, string name, int rows, int cols)
    {
        const string marker = ".experts.";
        var at = name.IndexOf(marker, StringComparison.Ordinal);
        if (t.Shape.Length != 3 || at < 0) return t;
        var start = at + marker.Length;
        var expert = int.Parse(name.AsSpan(start, name.IndexOf('.', start) - start), System.Globalization.CultureInfo.InvariantCulture);
        if (t.Shape[1] != rows || t.Shape[2] != cols || expert >= t.Shape[0])
            throw new InvalidDataException($"{name}: the expert stack has shape [{string.Join(", ", t.Shape)}]; expected [>{expert}, {rows}, {cols}]");
        var rowBytes = new WeightMatrix(null, rows, cols, t.Format).RowBytes;
        return new CpuDecoderTensor(t.Data + (nint)(expert * rows * rowBytes), t.Format, [rows, cols]);
    }

    /// <summary>Whether q/k rows come in ggml's interleaved rotary pairs (row 2j+i of a head is HF row i·hd/2 + j).</summary>
    public bool InterleavedQk { get; }
}
