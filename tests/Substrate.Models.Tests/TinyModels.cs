using static TorchSharp.torch;

namespace Substrate.Models.Tests;

/// <summary>Seeded tiny models shared by the tests.</summary>
internal static class TinyModels
{
    /// <summary>vocab 64, hidden 32, 2 layers, 4 heads over 2 kv heads (hd 8), intermediate 64, 32 positions.</summary>
    public static readonly ModelConfig Config = new()
    {
        VocabSize = 64, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
        IntermediateSize = 64, MaxPositionEmbeddings = 32, RopeTheta = 10000, RmsNormEps = 1e-5, TieWordEmbeddings = true,
    };

    public static LlamaForCausalLM Create(ModelConfig? config = null, ModelOptions? options = null, long seed = 1234)
    {
        manual_seed(seed);
        return new LlamaForCausalLM(config ?? Config, options);
    }

    /// <summary>(2, 7) token ids, fixed.</summary>
    public static Tensor Ids() => tensor(new long[] { 1, 5, 9, 33, 2, 63, 0, 7, 7, 12, 40, 41, 3, 18 }, [2, 7]);

    public static string Dir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "substrate-models-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
