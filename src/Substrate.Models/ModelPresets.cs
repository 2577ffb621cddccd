namespace Substrate.Models;

/// <summary>
/// Named architectures. Presets fix the shape of the network; the vocabulary comes from the
/// tokenizer at run time: <c>ModelPresets.Get("tiny") with { VocabSize = tokenizer.VocabSize }</c>.
/// </summary>
public static class ModelPresets
{
    private static readonly ModelConfig Common = new()
    {
        RopeTheta = 10000,
        RmsNormEps = 1e-5,
        TieWordEmbeddings = true,
    };

    private static readonly Dictionary<string, ModelConfig> All = new(StringComparer.Ordinal)
    {
        // ~1.05M parameters at vocab 2048 (0.79M without embeddings): trains in seconds.
        ["tiny"] = Common with
        {
            VocabSize = 2048, HiddenSize = 128, NumHiddenLayers = 4, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 384, MaxPositionEmbeddings = 256,
        },
        // ~12.6M parameters at vocab 8192.
        ["small"] = Common with
        {
            VocabSize = 8192, HiddenSize = 384, NumHiddenLayers = 6, NumAttentionHeads = 6, NumKeyValueHeads = 2,
            IntermediateSize = 1024, MaxPositionEmbeddings = 512,
        },
        // ~39M parameters at vocab 8192.
        ["base"] = Common with
        {
            VocabSize = 8192, HiddenSize = 512, NumHiddenLayers = 12, NumAttentionHeads = 8, NumKeyValueHeads = 4,
            IntermediateSize = 1376, MaxPositionEmbeddings = 1024,
        },
        // The benchmark model: 12,587,904 parameters. Fixed; do not change (figures are compared across runs).
        ["bench-12m"] = Common with
        {
            VocabSize = 8192, HiddenSize = 384, NumHiddenLayers = 6, NumAttentionHeads = 6, NumKeyValueHeads = 2,
            IntermediateSize = 1024, MaxPositionEmbeddings = 256,
        },
        // Mixtral-shaped mixtures of experts with the active MLP of "tiny" and "small" (8 experts of half their width, top-2):
        // the same compute per token, 2.6× / 2.2× the parameters.
        ["tiny-moe"] = ModelFamily.Mixtral.Apply(Common with
        {
            VocabSize = 2048, HiddenSize = 128, NumHiddenLayers = 4, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 192, MaxPositionEmbeddings = 256,
            NumLocalExperts = 8, NumExpertsPerTok = 2, RouterAuxLossCoef = 0.01, RouterZLossCoef = 0.001,
        }),
        ["small-moe"] = ModelFamily.Mixtral.Apply(Common with
        {
            VocabSize = 8192, HiddenSize = 384, NumHiddenLayers = 6, NumAttentionHeads = 6, NumKeyValueHeads = 2,
            IntermediateSize = 512, MaxPositionEmbeddings = 512,
            NumLocalExperts = 8, NumExpertsPerTok = 2, RouterAuxLossCoef = 0.01, RouterZLossCoef = 0.001,
        }),
    };

    public static IReadOnlyList<string> Names { get; } = All.Keys.ToArray();

    public static ModelConfig Get(string name) =>
        All.TryGetValue(name, out var config)
            ? config
            : throw new ArgumentException($"unknown model preset '{name}'; known presets: {string.Join(", ", Names)}", nameof(name));
}
