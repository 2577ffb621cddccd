using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Substrate.Tokenizers.Bpe;

namespace Substrate.Tokenizers.Formats;

/// <summary>
/// Reads a Hugging Face <c>tokenizer.json</c> whose model is BPE: byte-level (GPT-2, Llama 3: Split
/// and/or ByteLevel pre-tokenizer) or SentencePiece-style (Llama 2, Mistral: '▁' normalizer or
/// Metaspace pre-tokenizer, byte fallback). Anything else → InvalidDataException naming the file
/// and the unsupported part.
/// </summary>
public static class HfTokenizerJsonReader
{
    /// <param name="path">the tokenizer.json file</param>
    /// <param name="config">tokenizer_config.json contents, for BOS/EOS/PAD names (optional)</param>
    public static ITokenizer Read(string path, TokenizerConfig? config = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer.json not found: {path}", path);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: malformed JSON: {e.Message}", e);
        }
        using (doc)
        {
            try
            {
                return Read(doc.RootElement, config ?? TokenizerConfig.Empty);
            }
            catch (Exception e) when (e is InvalidDataException or InvalidOperationException or KeyNotFoundException or FormatException or ArgumentException)
            {
                throw new InvalidDataException($"{path}: {e.Message}", e);
            }
        }
    }

    private static ITokenizer Read(JsonElement root, TokenizerConfig config)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException("expected a JSON object");
        var model = Required(root, "model");
        string type = model.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "BPE";
        if (type != "BPE") throw new InvalidDataException($"unsupported model type '{type}' (supported: BPE)");
        var vocab = ReadVocab(Required(model, "vocab"));
        var merges = ReadMerges(Required(model, "merges"));
        var added = ReadAddedTokens(root);
        CheckIds(vocab, added);
        var (prefix, suffix) = ReadTemplate(Optional(root, "post_processor"));
        string? bos = config.BosToken ?? prefix.FirstOrDefault();
        bool ignoreMerges = Bool(model, "ignore_merges") ?? false;

        var preTokenizers = Flatten(Optional(root, "pre_tokenizer"), "pretokenizers").ToList();
        var byteLevel = preTokenizers.FirstOrDefault(p => TypeOf(p) == "ByteLevel");
        if (byteLevel.ValueKind != JsonValueKind.Undefined)
        {
            var patterns = ByteLevelPatterns(preTokenizers, byteLevel);
            var options = new ByteLevelBpeOptions
            {
                Pattern = patterns[^1], PrePatterns = patterns[..^1],
                Normalization = UnicodeNormalization(Optional(root, "normalizer")),
                IgnoreMerges = ignoreMerges,
                AddPrefixSpace = Bool(byteLevel, "add_prefix_space") ?? false,
                PrefixTokens = prefix, SuffixTokens = suffix,
                BosToken = bos, EosToken = config.EosToken, PadToken = config.PadToken,
            };
            return new ByteLevelBpeTokenizer(vocab, merges, added, options);
        }
        return new SentencePieceBpeTokenizer(vocab, merges, added, SentencePieceOptions(root, model, preTokenizers, config) with
        {
            IgnoreMerges = ignoreMerges, PrefixTokens = prefix, SuffixTokens = suffix, BosToken = bos,
        });
    }

    // The Split patterns in order (each Isolated); without one, ByteLevel's use_regex decides.
    private static string[] ByteLevelPatterns(List<JsonElement> preTokenizers, JsonElement byteLevel)
    {
        var patterns = new List<string>();
        foreach (var p in preTokenizers)
        {
            string type = TypeOf(p);
            if (type == "ByteLevel") continue;
            if (type != "Split") throw new InvalidDataException($"unsupported pre-tokenizer '{type}' (supported: Split, ByteLevel)");
            string behavior = p.TryGetProperty("behavior", out var b) ? b.GetString() ?? "" : "";
            if (behavior != "Isolated" || (Bool(p, "invert") ?? false))
                throw new InvalidDataException($"unsupported Split behavior '{behavior}' (supported: Isolated, not inverted)");
            patterns.Add(SplitPattern(p));
        }
        // No Split: ByteLevel with use_regex splits by GPT-2's pattern; without it the run is one word.
        if (patterns.Count == 0) patterns.Add(Bool(byteLevel, "use_regex") ?? true ? PreTokenizerPatterns.Gpt2 : @"[\s\S]+");
        return patterns.ToArray();
    }

    private static string SplitPattern(JsonElement split)
    {
        var pattern = Required(split, "pattern");
        if (pattern.TryGetProperty("Regex", out var regex)) return regex.GetString()!;
        if (pattern.TryGetProperty("String", out var literal)) return Regex.Escape(literal.GetString()!);
        throw new InvalidDataException("Split pattern has neither Regex nor String");
    }

    // Byte-level tokenizers normalize with Unicode forms only (Qwen: NFC); an empty Sequence is none.
    private static NormalizationForm? UnicodeNormalization(JsonElement normalizer)
    {
        NormalizationForm? form = null;
        foreach (var n in Flatten(normalizer, "normalizers"))
        {
            if (form is not null) throw new InvalidDataException("more than one normalizer on a byte-level BPE tokenizer is not supported");
            form = TypeOf(n) switch
            {
                "NFC" => NormalizationForm.FormC, "NFD" => NormalizationForm.FormD,
                "NFKC" => NormalizationForm.FormKC, "NFKD" => NormalizationForm.FormKD,
                var other => throw new InvalidDataException(
                    $"unsupported normalizer '{other}' on a byte-level BPE tokenizer (supported: NFC, NFD, NFKC, NFKD)"),
            };
        }
        return form;
    }

    private static SentencePieceBpeOptions SentencePieceOptions(JsonElement root, JsonElement model, List<JsonElement> preTokenizers, TokenizerConfig config)
    {
        string? prepend = null;
        var replacements = new List<(string, string)>();
        foreach (var n in Flatten(Optional(root, "normalizer"), "normalizers"))
        {
            switch (TypeOf(n))
            {
                case "Prepend": prepend = Required(n, "prepend").GetString(); break;
                case "Replace": replacements.Add((StringPattern(n), Required(n, "content").GetString()!)); break;
                default: throw new InvalidDataException($"unsupported normalizer '{TypeOf(n)}' (supported: Prepend, Replace)");
            }
        }
        char? meta = null;
        string scheme = "always";
        bool split = false;
        string? splitAfter = null;
        foreach (var p in preTokenizers)
        {
            if (TypeOf(p) == "Split" && Required(p, "pattern").TryGetProperty("String", out var literal)
                && p.TryGetProperty("behavior", out var behavior) && behavior.GetString() == "MergedWithPrevious" && !(Bool(p, "invert") ?? false))
            {
                splitAfter = literal.GetString();
                continue;
            }
            if (TypeOf(p) != "Metaspace")
                throw new InvalidDataException(
                    $"unsupported pre-tokenizer '{TypeOf(p)}' for SentencePiece-style BPE (supported: Metaspace, Split on a string MergedWithPrevious)");
            meta = (Required(p, "replacement").GetString() ?? "▁")[0];
            scheme = p.TryGetProperty("prepend_scheme", out var s) ? s.GetString() ?? "always"
                : (Bool(p, "add_prefix_space") ?? true) ? "always" : "never";
            split = Bool(p, "split") ?? true;
        }
        if (prepend is null && replacements.Count == 0 && meta is null)
            throw new InvalidDataException("unsupported BPE tokenizer: neither a ByteLevel pre-tokenizer nor a SentencePiece-style '▁' normalizer/Metaspace");
        return new SentencePieceBpeOptions
        {
            Prepend = prepend, Replacements = replacements,
            MetaspaceReplacement = meta, MetaspacePrependScheme = scheme, MetaspaceSplit = split, SplitAfter = splitAfter,
            ByteFallback = Bool(model, "byte_fallback") ?? false,
            UnkToken = model.TryGetProperty("unk_token", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null,
            FuseUnk = Bool(model, "fuse_unk") ?? false,
            Decoder = ReadDecoder(Optional(root, "decoder")),
            EosToken = config.EosToken, PadToken = config.PadToken,
        };
    }

    private static List<DecoderStep> ReadDecoder(JsonElement decoder) =>
        Flatten(decoder, "decoders").Select(d => (DecoderStep)(TypeOf(d) switch
        {
            "Replace" => new DecoderStep.Replace(StringPattern(d), Required(d, "content").GetString()!),
            "ByteFallback" => new DecoderStep.ByteFallback(),
            "Fuse" => new DecoderStep.Fuse(),
            "Strip" => new DecoderStep.Strip(Required(d, "content").GetString()![0], Required(d, "start").GetInt32(), Required(d, "stop").GetInt32()),
            "Metaspace" => new DecoderStep.Metaspace(Required(d, "replacement").GetString()![0],
                d.TryGetProperty("prepend_scheme", out var s) ? s.GetString() ?? "always" : "always"),
            var other => throw new InvalidDataException($"unsupported decoder '{other}' (supported: Replace, ByteFallback, Fuse, Strip, Metaspace)"),
        })).ToList();

    // TemplateProcessing "single": special tokens before and after the sequence $A. Roberta/Bert: cls A sep.
    private static (string[] Prefix, string[] Suffix) ReadTemplate(JsonElement processor)
    {
        foreach (var p in Flatten(processor, "processors"))
        {
            switch (TypeOf(p))
            {
                case "TemplateProcessing":
                    var prefix = new List<string>();
                    var suffix = new List<string>();
                    bool seenSequence = false;
                    foreach (var piece in Required(p, "single").EnumerateArray())
                    {
                        if (piece.TryGetProperty("Sequence", out _)) { seenSequence = true; continue; }
                        string id = Required(Required(piece, "SpecialToken"), "id").GetString()!;
                        // The template names a special token; its "tokens" list says what it expands to.
                        var tokens = Required(Required(Required(p, "special_tokens"), id), "tokens").EnumerateArray().Select(x => x.GetString()!);
                        (seenSequence ? suffix : prefix).AddRange(tokens);
                    }
                    return (prefix.ToArray(), suffix.ToArray());
                case "RobertaProcessing" or "BertProcessing":
                    return ([Required(p, "cls")[0].GetString()!], [Required(p, "sep")[0].GetString()!]);
            }
        }
        return ([], []);
    }

    private static Dictionary<string, int> ReadVocab(JsonElement vocab)
    {
        if (vocab.ValueKind != JsonValueKind.Object) throw new InvalidDataException("model.vocab must be an object of token → id");
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocab.EnumerateObject()) result[p.Name] = p.Value.GetInt32();
        return result;
    }

    /// <summary>
    /// Ids are refused at load, not at encode time: negative, shared by two different tokens, or so far past the token
    /// count that the id tables would be mostly holes (an id of 2^31 would allocate gigabytes).
    /// </summary>
    private static void CheckIds(Dictionary<string, int> vocab, List<AddedToken> added)
    {
        var owner = new Dictionary<int, string>(vocab.Count + added.Count);
        foreach (var (token, id) in vocab.Select(kv => (kv.Key, kv.Value)).Concat(added.Select(a => (a.Content, a.Id))))
        {
            if (id < 0) throw new InvalidDataException($"token '{token}' has a negative id ({id})");
            if (owner.TryGetValue(id, out var other) && other != token)
                throw new InvalidDataException($"id {id} is given to two tokens, '{other}' and '{token}'");
            owner[id] = token;
        }
        long limit = 2L * owner.Count + 1024;
        if (owner.Count > 0 && owner.Keys.Max() is var max && max >= limit)
            throw new InvalidDataException($"token '{owner[max]}' has id {max}, out of range for {owner.Count} tokens");
    }

    /// <summary>A tokenizer.json merge list: "left right" strings (older files) or ["left", "right"] pairs (tokenizers ≥ 0.20).</summary>
    public static List<(string Left, string Right)> ReadMerges(JsonElement merges)
    {
        var result = new List<(string, string)>(merges.GetArrayLength());
        foreach (var m in merges.EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
            {
                result.Add((m[0].GetString()!, m[1].GetString()!));
                continue;
            }
            string s = m.GetString() ?? "";
            int space = s.IndexOf(' ', 1);
            if (space < 0) throw new InvalidDataException($"merge \"{s}\" is not \"left right\"");
            result.Add((s[..space], s[(space + 1)..]));
        }
        return result;
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement root) =>
        Optional(root, "added_tokens") is { ValueKind: JsonValueKind.Array } tokens
            ? tokens.EnumerateArray().Select(t => new AddedToken(
                Required(t, "id").GetInt32(), Required(t, "content").GetString()!,
                Bool(t, "special") ?? false, Bool(t, "normalized") ?? false)).ToList()
            : [];

    private static string StringPattern(JsonElement step)
    {
        var pattern = Required(step, "pattern");
        if (pattern.TryGetProperty("String", out var s)) return s.GetString()!;
        throw new InvalidDataException($"{TypeOf(step)} with a regex pattern is not supported (only String patterns)");
    }

    // A step, or the steps of a Sequence, as a flat list (empty for null/absent).
    private static IEnumerable<JsonElement> Flatten(JsonElement element, string listName)
    {
        if (element.ValueKind != JsonValueKind.Object) yield break;
        if (TypeOf(element) == "Sequence")
        {
            foreach (var e in Required(element, listName).EnumerateArray())
                foreach (var inner in Flatten(e, listName)) yield return inner;
        }
        else yield return element;
    }

    private static string TypeOf(JsonElement e) => e.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";

    private static JsonElement Required(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) ? v : throw new InvalidDataException($"missing \"{name}\"");

    private static JsonElement Optional(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v : default;

    private static bool? Bool(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : null;
}
