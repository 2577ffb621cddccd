using System.Text.Json;
using Substrate.Models;
using Substrate.Tokenizers;
using Substrate.Tokenizers.Bpe;
using Substrate.Tokenizers.Formats;

namespace Substrate.Interop.Gguf;

/// <summary>llama.cpp's token types (<c>tokenizer.ggml.token_type</c>).</summary>
public enum GgufTokenType
{
    Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
}

/// <summary>
/// Turns a Hugging Face <c>tokenizer.json</c> (+ <c>tokenizer_config.json</c>) into llama.cpp's
/// <c>tokenizer.ggml.*</c> metadata. Byte-level BPE becomes <c>gpt2</c> (tokens, merges, types, and the
/// <c>pre</c> name whose split regex is the tokenizer's); SentencePiece-style BPE with byte fallback becomes
/// <c>llama</c> (tokens, scores — higher merges first —, types with <c>&lt;0xNN&gt;</c> byte tokens).
/// The JSON is read directly, so every field that matters is seen as written.
/// </summary>
public static class GgufTokenizerExporter
{
    /// <summary>
    /// Adds the tokenizer of <paramref name="modelDir"/> to <paramref name="writer"/>, padded with unused
    /// <c>[PADn]</c> tokens up to <paramref name="vocabSize"/> (the embedding's row count). Returns false when
    /// the folder has no tokenizer.json (nothing is added). Unsupported tokenizers → NotSupportedException.
    /// </summary>
    public static bool AddTo(GgufWriter writer, string modelDir, int vocabSize, ModelConfig config)
    {
        var path = Path.Combine(modelDir, "tokenizer.json");
        if (!File.Exists(path)) return false;
        using var doc = ParseJson(path);
        var root = doc.RootElement;
        var configPath = Path.Combine(modelDir, "tokenizer_config.json");
        var tokenizerConfig = File.Exists(configPath) ? TokenizerConfig.Read(configPath) : TokenizerConfig.Empty;
        var model = root.GetProperty("model");
        if (model.TryGetProperty("type", out var type) && type.GetString() != "BPE")
            throw new NotSupportedException($"{path}: tokenizer model '{type.GetString()}' cannot be exported to GGUF (supported: BPE)");

        var tokens = new string?[vocabSize];
        var types = new GgufTokenType[vocabSize];
        void Put(string token, int id, GgufTokenType t)
        {
            if (id < 0 || id >= vocabSize)
                throw new InvalidDataException($"{path}: token '{token}' has id {id}, outside the model's vocabulary of {vocabSize}");
            tokens[id] = token;
            types[id] = t;
        }
        foreach (var p in model.GetProperty("vocab").EnumerateObject()) Put(p.Name, p.Value.GetInt32(), GgufTokenType.Normal);
        var merges = HfTokenizerJsonReader.ReadMerges(model.GetProperty("merges"));
        var special = new HashSet<int>();
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
            foreach (var t in added.EnumerateArray())
            {
                bool isSpecial = t.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True;
                int id = t.GetProperty("id").GetInt32();
                Put(t.GetProperty("content").GetString()!, id, isSpecial ? GgufTokenType.Control : GgufTokenType.UserDefined);
                if (isSpecial) special.Add(id);
            }
        for (int i = 0; i < vocabSize; i++)
            if (tokens[i] is null) { tokens[i] = $"[PAD{i}]"; types[i] = GgufTokenType.Unused; }

        var preTokenizers = Flatten(root, "pre_tokenizer", "pretokenizers").ToList();
        bool byteLevel = preTokenizers.Any(p => TypeOf(p) == "ByteLevel");
        var ids = tokens.Select((t, i) => (t!, i)).GroupBy(x => x.Item1).ToDictionary(g => g.Key, g => g.First().i, StringComparer.Ordinal);
        int? IdOf(string? name) => name is not null && ids.TryGetValue(name, out var id) ? id : null;

        if (byteLevel)
        {
            writer.Add("tokenizer.ggml.model", "gpt2");
            writer.Add("tokenizer.ggml.pre", PreName(path, preTokenizers));
            writer.Add("tokenizer.ggml.tokens", GgufValue.Array(tokens!));
            writer.Add("tokenizer.ggml.token_type", GgufValue.Array(types.Select(t => (int)t).ToArray()));
            writer.Add("tokenizer.ggml.merges", GgufValue.Array(merges.Select(m => $"{m.Left} {m.Right}").ToArray()));
        }
        else AddSentencePiece(writer, path, model, tokens!, types, merges, IdOf, AddsSpacePrefix(root, preTokenizers));

        var prefix = TemplatePrefix(root);
        if ((IdOf(tokenizerConfig.BosToken) ?? IdOf(prefix.FirstOrDefault()) ?? config.BosTokenId) is { } bos)
            writer.Add("tokenizer.ggml.bos_token_id", (uint)bos);
        if ((IdOf(tokenizerConfig.EosToken) ?? config.EosTokenId) is { } eos) writer.Add("tokenizer.ggml.eos_token_id", (uint)eos);
        if (IdOf(tokenizerConfig.PadToken) is { } pad) writer.Add("tokenizer.ggml.padding_token_id", (uint)pad);
        writer.Add("tokenizer.ggml.add_bos_token", tokenizerConfig.AddBosToken ?? prefix.Count > 0);
        writer.Add("tokenizer.ggml.add_eos_token", tokenizerConfig.AddEosToken ?? false);
        if (tokenizerConfig.ChatTemplate is { } template) writer.Add("tokenizer.chat_template", template);
        return true;
    }

    /// <summary>The <c>llama</c> (SentencePiece-style BPE with byte fallback) tokenizer keys: byte and unknown token types,
    /// and scores that make llama.cpp's merge order the tokenizer's.</summary>
    private static void AddSentencePiece(GgufWriter writer, string path, JsonElement model, string[] tokens, GgufTokenType[] types,
        List<(string Left, string Right)> merges, Func<string?, int?> idOf, bool addSpacePrefix)
    {
        if (!(model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True))
            throw new NotSupportedException($"{path}: a BPE tokenizer without ByteLevel must use byte_fallback (SentencePiece-style) to export as 'llama'");
        string? unk = model.TryGetProperty("unk_token", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
        var scores = new float[tokens.Length];
        var rank = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int r = 0; r < merges.Count; r++) rank.TryAdd(merges[r].Left + merges[r].Right, r);
        for (int i = 0; i < tokens.Length; i++)
        {
            var t = tokens[i];
            if (types[i] == GgufTokenType.Normal)
            {
                if (t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t.EndsWith('>')) types[i] = GgufTokenType.Byte;
                else if (t == unk) types[i] = GgufTokenType.Unknown;
            }
            if (t == unk && types[i] == GgufTokenType.Control) types[i] = GgufTokenType.Unknown;
            // llama.cpp's SentencePiece merge picks the candidate with the highest score: the earliest merge.
            scores[i] = rank.TryGetValue(t, out var r) ? -r : (types[i] == GgufTokenType.Normal ? 0f : -1000f);
        }
        writer.Add("tokenizer.ggml.model", "llama");
        writer.Add("tokenizer.ggml.pre", "default");
        writer.Add("tokenizer.ggml.tokens", GgufValue.Array(tokens));
        writer.Add("tokenizer.ggml.scores", GgufValue.Array(scores));
        writer.Add("tokenizer.ggml.token_type", GgufValue.Array(types.Select(t => (int)t).ToArray()));
        if (idOf(unk) is { } unkId) writer.Add("tokenizer.ggml.unknown_token_id", (uint)unkId);
        writer.Add("tokenizer.ggml.add_space_prefix", addSpacePrefix);
    }

    /// <summary>llama.cpp's <c>pre</c> name for a byte-level tokenizer's pre-tokenizers, by the split they perform.</summary>
    private static string PreName(string path, List<JsonElement> preTokenizers)
    {
        var split = preTokenizers.FirstOrDefault(p => TypeOf(p) == "Split");
        if (split.ValueKind == JsonValueKind.Undefined)
        {
            var byteLevel = preTokenizers.First(p => TypeOf(p) == "ByteLevel");
            bool useRegex = !byteLevel.TryGetProperty("use_regex", out var ur) || ur.ValueKind != JsonValueKind.False;
            if (useRegex) return "gpt-2";
            throw new NotSupportedException($"{path}: a ByteLevel pre-tokenizer without a regex has no llama.cpp counterpart");
        }
        string? regex = split.TryGetProperty("pattern", out var p) && p.TryGetProperty("Regex", out var r) ? r.GetString() : null;
        return regex switch
        {
            PreTokenizerPatterns.Llama3 or PreTokenizerPatterns.Cl100k => "llama-bpe",
            PreTokenizerPatterns.Gpt2 => "gpt-2",
            _ => throw new NotSupportedException(
                $"{path}: no llama.cpp pre-tokenizer is known to split by the regex '{regex}' (supported: Llama 3's, GPT-2's)"),
        };
    }

    private static bool AddsSpacePrefix(JsonElement root, List<JsonElement> preTokenizers)
    {
        foreach (var n in Flatten(root, "normalizer", "normalizers"))
            if (TypeOf(n) == "Prepend") return true;
        foreach (var p in preTokenizers)
            if (TypeOf(p) == "Metaspace")
                return p.TryGetProperty("prepend_scheme", out var s) ? s.GetString() != "never"
                    : !(p.TryGetProperty("add_prefix_space", out var a) && a.ValueKind == JsonValueKind.False);
        return false;
    }

    private static List<string> TemplatePrefix(JsonElement root)
    {
        var result = new List<string>();
        foreach (var p in Flatten(root, "post_processor", "processors"))
        {
            if (TypeOf(p) != "TemplateProcessing" || !p.TryGetProperty("single", out var single)) continue;
            foreach (var piece in single.EnumerateArray())
            {
                if (piece.TryGetProperty("Sequence", out _)) return result;
                if (piece.TryGetProperty("SpecialToken", out var st)) result.Add(st.GetProperty("id").GetString()!);
            }
        }
        return result;
    }

    internal static JsonDocument ParseJson(string path)
    {
        try { return JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: malformed JSON ({e.Message})", e); }
    }

    private static IEnumerable<JsonElement> Flatten(JsonElement root, string name, string listName)
    {
        if (!root.TryGetProperty(name, out var element)) return [];
        return FlattenElement(element, listName);
    }

    private static IEnumerable<JsonElement> FlattenElement(JsonElement element, string listName)
    {
        if (element.ValueKind != JsonValueKind.Object) yield break;
        if (TypeOf(element) == "Sequence" && element.TryGetProperty(listName, out var list))
        {
            foreach (var e in list.EnumerateArray())
                foreach (var inner in FlattenElement(e, listName)) yield return inner;
        }
        else yield return element;
    }

    private static string TypeOf(JsonElement e) => e.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";
}
