using Substrate.Models;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;
using static TorchSharp.torch;

namespace Substrate.Agents.Tests;

/// <summary>A seeded random tiny Llama with a byte-level BPE tokenizer trained here on a few words of JSON and
/// arithmetic, saved once per process as a Hugging Face folder: a real Substrate model that loads in milliseconds.
/// Shared with Substrate.Cli.Tests (linked), which runs the command over it.</summary>
internal static class TinyModelFolder
{
    public const int HiddenSize = 32;

    static readonly Lazy<string> Folder = new(Create);

    public static string Path => Folder.Value;

    static string Create()
    {
        var dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"substrate-agents-tiny-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var words = "calculator expression arguments name 1 2 3 4 5 6 7 8 9 0 + - * / ( ) { } \" : , the answer is".Split(' ');
        var documents = Enumerable.Range(0, 40).Select(i => string.Join(' ', words.Skip(i % 5).Concat(words.Take(i % 5))));
        var tokenizer = BpeTrainer.Train(documents, new BpeTrainerOptions { VocabSize = 320 });
        HfTokenizerJsonWriter.Save(tokenizer, dir);
        manual_seed(3);
        using var model = new LlamaForCausalLM(new ModelConfig
        {
            VocabSize = tokenizer.VocabSize, HiddenSize = HiddenSize, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 64, MaxPositionEmbeddings = 2048, RmsNormEps = 1e-5, TieWordEmbeddings = true,
        });
        ModelFolder.Save(model, dir);
        return dir;
    }
}
