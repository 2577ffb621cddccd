using Substrate.Nn.Ggml;
using System.Globalization;
using System.Text;
using Substrate.Models;

namespace Substrate.Interop.Gguf;

/// <summary>One file of a model and its size in bytes.</summary>
public sealed record ModelFileInfo(string Name, long Bytes);

/// <summary>
/// What <c>substrate info --model &lt;dir | file.gguf&gt;</c> prints: the architecture and its sizes, read from
/// config.json + safetensors headers or from a GGUF header — no weights are loaded.
/// </summary>
public sealed record ModelInfo(
    string Path,
    string Format,
    string Architecture,
    string? Name,
    long ParameterCount,
    int VocabSize,
    int ContextLength,
    int Layers,
    int HiddenSize,
    int IntermediateSize,
    int Heads,
    int KvHeads,
    bool TiedEmbeddings,
    string? FileType,
    string? TokenizerModel,
    IReadOnlyDictionary<string, long> ParametersByDtype,
    IReadOnlyList<ModelFileInfo> Files)
{
    public long TotalBytes => Files.Sum(f => f.Bytes);

    /// <summary>Describes a Hugging Face model folder or a <c>.gguf</c> file. Missing → FileNotFoundException; unreadable → InvalidDataException.</summary>
    public static ModelInfo Describe(string path)
    {
        if (Directory.Exists(path)) return DescribeFolder(path);
        if (File.Exists(path)) return DescribeGguf(path);
        throw new FileNotFoundException($"{path}: no model folder or GGUF file there", path);
    }

    private static ModelInfo DescribeFolder(string dir)
    {
        var config = ModelFolder.ReadConfig(dir);
        var files = ModelFolder.WeightFiles(dir);
        ModelFolder.CheckWeights(dir, config, ModelFolder.WeightShapes(files)); // info reports only what would load
        var byDtype = new SortedDictionary<string, long>(StringComparer.Ordinal);
        long total = 0;
        foreach (var file in files.Values.Distinct())
        {
            using var reader = new SafetensorsReader(file);
            foreach (var e in reader.Entries)
            {
                if (e.Name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal)) continue;
                long n = e.Shape.Aggregate(1L, (a, d) => a * d);
                total += n;
                byDtype[e.Dtype] = byDtype.GetValueOrDefault(e.Dtype) + n;
            }
        }
        string? tokenizer = null;
        var tokenizerJson = System.IO.Path.Combine(dir, "tokenizer.json");
        if (File.Exists(tokenizerJson))
        {
            using var doc = GgufTokenizerExporter.ParseJson(tokenizerJson);
            var root = doc.RootElement;
            var pre = root.TryGetProperty("pre_tokenizer", out var p) ? p.GetRawText() : "";
            tokenizer = pre.Contains("\"ByteLevel\"", StringComparison.Ordinal) ? "byte-level BPE" : "SentencePiece-style BPE";
        }
        return new ModelInfo(dir, "hf-folder", config.Architectures.FirstOrDefault() ?? config.ModelType, new DirectoryInfo(dir).Name,
            total, config.VocabSize, config.MaxPositionEmbeddings, config.NumHiddenLayers, config.HiddenSize, config.IntermediateSize,
            config.NumAttentionHeads, config.NumKeyValueHeads, config.TieWordEmbeddings, config.TorchDtype, tokenizer, byDtype,
            Directory.GetFiles(dir).Order(StringComparer.Ordinal)
                .Select(f => new ModelFileInfo(System.IO.Path.GetFileName(f), new FileInfo(f).Length)).ToList());
    }

    private static ModelInfo DescribeGguf(string path)
    {
        using var r = new GgufReader(path);
        var arch = r.GetString("general.architecture") ?? "unknown";
        int Int(string key) => (int)(r.GetInt($"{arch}.{key}") ?? 0);
        var byType = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var t in r.Tensors) byType[t.Type.ToString()] = byType.GetValueOrDefault(t.Type.ToString()) + t.ElementCount;
        var tokens = r.Get("tokenizer.ggml.tokens");
        int vocab = tokens is { Type: GgufValueType.Array } ? ((Array)tokens.Value).Length
            : Int("vocab_size") is > 0 and var v ? v
            : r.Contains("token_embd.weight") ? (int)r.Tensor("token_embd.weight").Shape[0] : 0;
        int heads = Int("attention.head_count");
        var fileType = r.GetInt("general.file_type") is { } ft
            ? Enum.IsDefined((GgufFileType)ft) ? ((GgufFileType)ft).ToString() : ft.ToString(CultureInfo.InvariantCulture)
            : null;
        return new ModelInfo(path, "gguf", arch, r.GetString("general.name"), r.Tensors.Sum(t => t.ElementCount), vocab,
            Int("context_length"), Int("block_count"), Int("embedding_length"), Int("feed_forward_length"), heads,
            r.GetInt($"{arch}.attention.head_count_kv") is { } kv ? (int)kv : heads,
            !r.Contains("output.weight"), fileType, r.GetString("tokenizer.ggml.model"), byType,
            [new ModelFileInfo(System.IO.Path.GetFileName(path), r.FileLength)]);
    }

    /// <summary>A few aligned lines for a terminal.</summary>
    public string ToText()
    {
        var s = new StringBuilder();
        void Line(string key, object? value) { if (value is not null) s.Append(CultureInfo.InvariantCulture, $"{key,-16}{value}\n"); }
        Line("model", Path);
        Line("format", Format);
        Line("architecture", Architecture);
        Line("name", Name);
        Line("parameters", ParameterCount.ToString("N0", CultureInfo.InvariantCulture));
        Line("vocabulary", VocabSize);
        Line("context", ContextLength);
        Line("layers", Layers);
        Line("hidden", HiddenSize);
        Line("ffn", IntermediateSize);
        Line("heads", $"{Heads} (kv {KvHeads})");
        Line("tied embeddings", TiedEmbeddings ? "yes" : "no");
        Line("file type", FileType);
        Line("tokenizer", TokenizerModel);
        Line("dtypes", string.Join(", ", ParametersByDtype.Select(kv => $"{kv.Key} {kv.Value.ToString("N0", CultureInfo.InvariantCulture)}")));
        foreach (var f in Files) Line("file", $"{f.Name} ({f.Bytes.ToString("N0", CultureInfo.InvariantCulture)} bytes)");
        Line("total size", $"{TotalBytes.ToString("N0", CultureInfo.InvariantCulture)} bytes");
        return s.ToString();
    }
}
