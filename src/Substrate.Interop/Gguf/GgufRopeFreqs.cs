using Substrate.Models;

namespace Substrate.Interop.Gguf;

/// <summary>
/// llama.cpp's <c>rope_freqs.weight</c>: hd/2 float32 factors, the plain inverse frequency θ^(−2i/hd) of each rotary pair
/// divided by factor i (ggml's rope with freq_factors). llama.cpp's converter writes Llama 3.1/3.2's <c>rope_scaling</c>
/// (<c>rope_type: llama3</c>) so, without config keys; this reads the factors back and recovers the llama3 parameters that
/// give them, so that a folder imported from such a file is a plain Llama 3 folder.
/// </summary>
public static class GgufRopeFreqs
{
    public const string TensorName = "rope_freqs.weight";

    /// <summary>The scaling <paramref name="r"/>'s rope_freqs tensor describes, with <see cref="RopeScaling.FrequencyFactors"/>
    /// set to the file's factors (the decoder rotates with them as stored): <c>llama3</c> with the parameters that reproduce
    /// them, else <c>longrope</c> with short and long factors both the file's and attention factor 1 (transformers' longrope
    /// is then exactly these frequencies, so the folder holds them); null without the tensor or with factors all 1.</summary>
    public static RopeScaling? Read(GgufReader r, GgufArchitecture arch, int headDim, double theta, int context)
    {
        if (!r.Contains(TensorName)) return null;
        var info = r.Tensor(TensorName);
        if (info.Shape.Length != 1 || info.Shape[0] != headDim / 2)
            throw new InvalidDataException(
                $"{r.Path}: tensor '{TensorName}' has shape [{string.Join(", ", info.Shape)}]; head_dim {headDim} needs [{headDim / 2}]");
        var factors = r.ReadFloats(info);
        if (factors.Any(f => !(f > 0) || !float.IsFinite(f)))
            throw new InvalidDataException($"{r.Path}: tensor '{TensorName}' holds a factor that is not positive and finite");
        if (factors.All(f => f == 1)) return null;
        var metadataFactor = r.GetDouble(arch.Key("rope.scaling.factor"));
        var metadataOriginal = (int?)r.GetInt(arch.Key("rope.scaling.original_context_length"));
        var llama3 = Llama3(factors, headDim, theta, metadataFactor, metadataOriginal);
        return llama3 is not null ? llama3 with { FrequencyFactors = factors } : new RopeScaling
        {
            RopeType = "longrope", AttentionFactor = 1, OriginalMaxPositionEmbeddings = context,
            ShortFactor = factors.Select(f => GgufImporter.Shortest(f)).ToArray(),
            LongFactor = factors.Select(f => GgufImporter.Shortest(f)).ToArray(),
            FrequencyFactors = factors,
        };
    }

    /// <summary>
    /// The llama3 parameters whose factors (computed as <see cref="GgufExporter.RopeFactors"/> does) match
    /// <paramref name="factors"/> to 1e-6 relative (llama.cpp's converter rounds the same fp64 values in another order), or
    /// null. Only the ratios original/low and original/high show in the factors, so candidates are tried in order: the
    /// file's keys where it has them, the standard Llama 3.1/3.2 values (factor 8 or 32, low 1, high 4, original 8192),
    /// then powers of two for the original context, then a few other low/high pairs.
    /// </summary>
    public static RopeScaling? Llama3(float[] factors, int headDim, double theta, double? factor = null, int? original = null)
    {
        var largest = GgufImporter.Shortest(factors.Max());
        var factorCandidates = new double?[] { factor, largest, 8, 32, 16, 4, 2 }.OfType<double>().Where(f => f > 1).Distinct();
        var originals = new int?[] { original, 8192 }.OfType<int>().Concat(Enumerable.Range(4, 17).Select(k => 1 << k)).Distinct().ToList();
        (double Low, double High)[] pairs = [(1, 4), (1, 2), (1, 8), (2, 4), (2, 8), (0.5, 2), (1, 16)];
        foreach (var f in factorCandidates)
            foreach (var (low, high) in pairs) // outermost of the three: (o, low, high) and (k·o, k·low, k·high) give the same factors
                foreach (var o in originals)
                {
                    var candidate = new RopeScaling
                    {
                        RopeType = "llama3", Factor = f, LowFreqFactor = low, HighFreqFactor = high, OriginalMaxPositionEmbeddings = o,
                    };
                    var implied = Factors(candidate, headDim, theta);
                    if (implied.Zip(factors).All(p => Math.Abs(p.First - p.Second) <= 1e-6 * p.Second)) return candidate;
                }
        return null;
    }

    /// <summary>The hd/2 factors that divide the plain frequencies to give <paramref name="scaling"/>'s: plain / scaled, in
    /// float32 as the file holds them.</summary>
    public static float[] Factors(RopeScaling scaling, int headDim, double theta)
    {
        var plain = RopeScaling.Frequencies(headDim, theta, null);
        var scaled = RopeScaling.Frequencies(headDim, theta, scaling);
        return plain.Select((f, i) => (float)(f / scaled[i])).ToArray();
    }
}
