using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Substrate.Inference;
using Substrate.Interop.Gguf;
using Substrate.Models;
using Substrate.Models.Tests;
using Substrate.Tokenizers.Formats;
using Substrate.Tokenizers.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Interop.Tests.Gguf;

/// <summary>A seeded tiny Llama with a byte-level BPE tokenizer trained on a few KB of the bundled corpus, saved as a HF folder.</summary>
internal static class GgufTestModels
{

    /// <summary>vocab 512 (the tokenizer's 480 tokens + 32 unused rows), hidden 64, 2 layers, 4 heads over 2 kv heads (hd 16), ffn 128.</summary>
    public static readonly ModelConfig Config = new()
    {
        VocabSize = 512, HiddenSize = 64, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
        IntermediateSize = 128, MaxPositionEmbeddings = 128, RopeTheta = 10000, RmsNormEps = 1e-5, TieWordEmbeddings = true,
    };

    private static readonly Lazy<string> Text = new(() =>
    {
        var path = Path.Combine(RepoRoot(), "data", "corpus", "validation.jsonl.gz");
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var lines = new StreamReader(gz);
        var text = new StringBuilder();
        while (text.Length < 12_000 && lines.ReadLine() is { } line)
        {
            var doc = JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!;
            text.Append(doc.AsSpan(0, Math.Min(doc.Length, 3000))).Append('\n');
        }
        return text.ToString();
    });

    public static string CorpusText => Text.Value;

    /// <summary>Writes config.json, model.safetensors, tokenizer.json and tokenizer_config.json into a new folder.</summary>
    public static string CreateFolder(ModelConfig? config = null, long seed = 7, bool tokenizer = true)
    {
        config ??= Config;
        var dir = TinyModels.Dir();
        using (var model = CreateModel(config, seed)) ModelFolder.Save(model, dir);
        if (tokenizer) WriteTokenizer(dir);
        return dir;
    }

    /// <summary>Weights scaled so activations are O(1) and the logits spread over several units (clear argmax gaps).</summary>
    public static LlamaForCausalLM CreateModel(ModelConfig config, long seed)
    {
        manual_seed(seed);
        var model = new LlamaForCausalLM(config);
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (p.dim() == 1) p.copy_(1 + 0.2 * randn_like(p));
            else if (name.Contains("embed_tokens")) p.copy_(0.25 * randn_like(p));
            else p.copy_(randn_like(p) * (1.0 / Math.Sqrt(p.shape[1])));
        }
        return model;
    }

    /// <summary>Substrate's BPE trainer on a few KB of the corpus (vocab 480: 256 bytes, 218 merges, 6 specials at 474..479),
    /// saved by Substrate's tokenizer.json writer (Llama 3 split regex, BOS added, Llama 3 chat template).</summary>
    public static void WriteTokenizer(string dir)
    {
        var tokenizer = BpeTrainer.Train([CorpusText], new BpeTrainerOptions { VocabSize = 480 });
        HfTokenizerJsonWriter.Save(tokenizer, dir);
    }

    /// <summary>Greedy decoding by Substrate's TokenGenerator (KV cache: the prompt in one forward, then one token per step).</summary>
    public static int[] Greedy(LlamaForCausalLM model, int[] prompt, int count, DecoderImplementation decoder = DecoderImplementation.Auto) =>
        new TokenGenerator(model).Generate(prompt, new GenerationOptions { MaxTokens = count, Temperature = 0, Decoder = decoder }).ToArray();

    /// <summary>(T, V) logits of one sequence, row-major.</summary>
    public static float[][] Logits(LlamaForCausalLM model, int[] ids)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = model.forward(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]))[0]; // (T, V)
        return Enumerable.Range(0, ids.Length).Select(t => logits[t].data<float>().ToArray()).ToArray();
    }

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Substrate.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no Substrate.slnx above {AppContext.BaseDirectory}");
    }
}
