using Substrate.Models;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;
using static TorchSharp.torch;

namespace Substrate.Training.Tests;

/// <summary>A tiny base model folder (seeded weights, a BPE tokenizer with the Llama 3 chat template) and instruction data.</summary>
static class FinetuneTestModel
{
    public const string Corpus = "the cat sat on the mat. a dog ran in the park. what colour is the sky? blue. what sound does a cat make? meow. ";

    /// <param name="modelType">the family (qwen2: q/k/v biases, qwen3: q/k norms, mistral: a window of 8 positions, gemma3_text: its norms, GeGLU and a window of 8, phi3: fused qkv_proj / gate_up_proj)</param>
    /// <param name="hiddenSize">256 (and intermediateSize 512) fits whole q4_K blocks of 256 for a QLoRA base</param>
    public static string Write(string dir, string modelType = "llama", int hiddenSize = 32, int intermediateSize = 64)
    {
        var tokenizer = BpeTrainer.Train([Corpus, Corpus], new BpeTrainerOptions { VocabSize = 300 });
        HfTokenizerJsonWriter.Save(tokenizer, dir);
        manual_seed(3);
        using var model = new LlamaForCausalLM(ModelFamily.Find(modelType).Apply(new ModelConfig
        {
            VocabSize = tokenizer.VocabSize, HiddenSize = hiddenSize, NumHiddenLayers = 2, NumAttentionHeads = 2, NumKeyValueHeads = 1,
            IntermediateSize = intermediateSize, MaxPositionEmbeddings = 64, RmsNormEps = 1e-5, TieWordEmbeddings = true,
            BosTokenId = tokenizer.Special.Bos, EosTokenId = tokenizer.Special.Eos, SlidingWindowSize = modelType is "mistral" or "gemma3_text" ? 8 : null,
        }));
        ModelFolder.Save(model, dir);
        return dir;
    }

    /// <summary>Chat and prompt/completion records mixed, 24 lines.</summary>
    public static string WriteData(string path)
    {
        var lines = new List<string>();
        for (int i = 0; i < 12; i++)
        {
            lines.Add("""{"messages":[{"role":"user","content":"what colour is the sky?"},{"role":"assistant","content":"blue."}]}""");
            lines.Add("""{"prompt":"what sound does a cat make?","completion":" meow."}""");
        }
        File.WriteAllLines(path, lines);
        return path;
    }
}
