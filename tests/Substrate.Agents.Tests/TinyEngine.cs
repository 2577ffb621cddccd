using Substrate.Inference.Serving;
using Substrate.Models;
using Substrate.Tokenizers;
using Substrate.Tokenizers.Training;
using static TorchSharp.torch;

namespace Substrate.Agents.Tests;

/// <summary>A seeded random tiny Llama with a byte-level BPE tokenizer trained here on a few words of JSON and
/// arithmetic, served in process: a real Substrate model behind SubstrateChatClient, in milliseconds.</summary>
internal static class TinyEngine
{
    public const int HiddenSize = 32;

    public static InferenceEngine Create()
    {
        var words = "calculator expression arguments name 1 2 3 4 5 6 7 8 9 0 + - * / ( ) { } \" : , the answer is";
        var documents = Enumerable.Range(0, 40).Select(i => string.Join(' ', words.Split(' ').Skip(i % 5).Concat(words.Split(' ').Take(i % 5))));
        var tokenizer = BpeTrainer.Train(documents, new BpeTrainerOptions { VocabSize = 320 });
        manual_seed(3);
        var model = new LlamaForCausalLM(new ModelConfig
        {
            VocabSize = tokenizer.VocabSize, HiddenSize = HiddenSize, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 64, MaxPositionEmbeddings = 2048, RmsNormEps = 1e-5, TieWordEmbeddings = true,
        });
        return new InferenceEngine(model, tokenizer, TokenizerConfig.Empty, "tiny", owner: model);
    }
}
