using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Substrate.Models.Gguf;
using Substrate.Tokenizers.Bpe;
using TorchSharp;
using static TorchSharp.torch;

namespace Substrate.Models.Tests.Gguf;

/// <summary>A seeded tiny Llama with a byte-level BPE tokenizer trained on a few KB of the bundled corpus, saved as a HF folder.</summary>
internal static class GgufTestModels
{
    public const string Bos = "<|begin_of_text|>", Eos = "<|end_of_text|>", Pad = "<|pad|>";
    public const string ChatTemplate = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}";

    /// <summary>vocab 512 (the tokenizer's 459 tokens + unused rows), hidden 64, 2 layers, 4 heads over 2 kv heads (hd 16), ffn 128.</summary>
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
        if (tokenizer) WriteTokenizer(dir, merges: 200);
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

    public static void WriteTokenizer(string dir, int merges)
    {
        var (tokens, mergeList) = TrainByteLevel(CorpusText, merges);
        HfTokenizerJson.Write(Path.Combine(dir, "tokenizer.json"),
            HfTokenizerJson.ByteLevelBpe(tokens, mergeList, GgufTokenizerExporter.Llama3Pattern, ignoreMerges: true, bosToken: Bos));
        HfTokenizerJson.Write(Path.Combine(dir, "tokenizer_config.json"),
            HfTokenizerJson.Config(Bos, Eos, Pad, null, addBos: true, addEos: false, ChatTemplate));
    }

    /// <summary>
    /// A plain byte-level BPE trainer (Llama 3 split, most frequent pair first, ties by ordinal order):
    /// 256 byte tokens, one token per merge, then BOS, EOS and PAD as special added tokens.
    /// </summary>
    public static (List<HfTokenizerToken> Tokens, List<(string, string)> Merges) TrainByteLevel(string text, int merges)
    {
        var regex = PreTokenizerPatterns.ToRegex(PreTokenizerPatterns.Llama3);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var m in regex.EnumerateMatches(text))
        {
            var word = ByteLevelAlphabet.ToString(Encoding.UTF8.GetBytes(text.Substring(m.Index, m.Length)));
            counts[word] = counts.GetValueOrDefault(word) + 1;
        }
        var words = counts.Select(kv => (Symbols: kv.Key.Select(c => c.ToString()).ToList(), Count: kv.Value)).ToList();
        var tokens = Enumerable.Range(0, 256).Select(b => new HfTokenizerToken(b, ByteLevelAlphabet.ToChar((byte)b).ToString())).ToList();
        var mergeList = new List<(string, string)>();
        for (int step = 0; step < merges; step++)
        {
            var pairs = new Dictionary<(string, string), int>();
            foreach (var (symbols, count) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    pairs[(symbols[i], symbols[i + 1])] = pairs.GetValueOrDefault((symbols[i], symbols[i + 1])) + count;
            if (pairs.Count == 0) break;
            var best = pairs.OrderByDescending(p => p.Value).ThenBy(p => p.Key.Item1, StringComparer.Ordinal)
                .ThenBy(p => p.Key.Item2, StringComparer.Ordinal).First().Key;
            mergeList.Add(best);
            tokens.Add(new HfTokenizerToken(tokens.Count, best.Item1 + best.Item2));
            foreach (var (symbols, _) in words)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    if (symbols[i] == best.Item1 && symbols[i + 1] == best.Item2)
                    {
                        symbols[i] += symbols[i + 1];
                        symbols.RemoveAt(i + 1);
                    }
        }
        foreach (var special in new[] { Bos, Eos, Pad }) tokens.Add(new HfTokenizerToken(tokens.Count, special, Added: true, Special: true));
        return (tokens, mergeList);
    }

    /// <summary>Greedy decoding with the KV cache: the prompt in one forward, then one token per step.</summary>
    public static int[] Greedy(LlamaForCausalLM model, int[] prompt, int count)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var cache = model.CreateCache();
        var result = new List<int>();
        var logits = model.forward(tensor(prompt.Select(i => (long)i).ToArray(), [1, prompt.Length]), cache, 0); // (1, T, V)
        long position = prompt.Length;
        for (int i = 0; i < count; i++)
        {
            int next = (int)logits[0, -1].argmax().item<long>();
            result.Add(next);
            logits = model.forward(tensor(new long[] { next }, [1, 1]), cache, position++);
        }
        return result.ToArray();
    }

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
