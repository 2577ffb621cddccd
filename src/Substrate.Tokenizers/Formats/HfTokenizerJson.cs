using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Substrate.IO;

namespace Substrate.Tokenizers.Formats;

/// <summary>One token of a tokenizer being written: its id, text, and whether it is an added (special or user-defined) token.
/// A token may appear twice, once in the model's vocabulary and once <see cref="Added"/>.</summary>
public sealed record HfTokenizerToken(int Id, string Content, bool Added = false, bool Special = false, bool Normalized = false);

/// <summary>
/// Builds Hugging Face <c>tokenizer.json</c> and <c>tokenizer_config.json</c> documents, the one writer of both for every
/// path (a trained tokenizer, a GGUF import): byte-level BPE (GPT-2 / Llama 3) and SentencePiece-style BPE with byte
/// fallback (Llama 2). transformers' AutoTokenizer and transformers.js load what it writes.
/// </summary>
public static class HfTokenizerJson
{
    private static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // 'Ġ' and other non-ASCII characters as themselves, like HF
    };

    /// <summary>A byte-level BPE tokenizer.json: the options' normalization, Split pre-tokenizers with
    /// <see cref="ByteLevelBpeOptions.PrePatterns"/> and <see cref="ByteLevelBpeOptions.Pattern"/> then ByteLevel, and a
    /// TemplateProcessing post-processor with the options' prefix and suffix tokens.</summary>
    public static JsonObject ByteLevelBpe(IEnumerable<HfTokenizerToken> tokens, IEnumerable<(string Left, string Right)> merges,
        ByteLevelBpeOptions options)
    {
        var list = tokens.OrderBy(t => t.Id).ToList();
        var preTokenizers = new JsonArray();
        foreach (var pattern in options.PrePatterns.Append(options.Pattern))
        {
            preTokenizers.Add(new JsonObject
            {
                ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = pattern }, ["behavior"] = "Isolated", ["invert"] = false,
            });
        }
        preTokenizers.Add(ByteLevel(options.AddPrefixSpace, trimOffsets: true, useRegex: false));
        return new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = AddedTokens(list),
            ["normalizer"] = options.Normalization switch
            {
                null => null,
                System.Text.NormalizationForm.FormC => new JsonObject { ["type"] = "NFC" },
                System.Text.NormalizationForm.FormD => new JsonObject { ["type"] = "NFD" },
                System.Text.NormalizationForm.FormKC => new JsonObject { ["type"] = "NFKC" },
                _ => new JsonObject { ["type"] = "NFKD" },
            },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "Sequence", ["pretokenizers"] = preTokenizers },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["processors"] = new JsonArray(ByteLevel(true, trimOffsets: false, useRegex: true), Template(options.PrefixTokens, options.SuffixTokens, list)),
            },
            ["decoder"] = ByteLevel(true, trimOffsets: true, useRegex: true),
            ["model"] = Model(list.Where(t => !t.Added), merges, byteFallback: false, options.IgnoreMerges, unk: null),
        };
    }

    /// <summary>A SentencePiece-style BPE tokenizer.json (Llama 2): '▁' for spaces (and prepended when
    /// <paramref name="addSpacePrefix"/>), byte fallback to &lt;0xNN&gt; tokens. Every token is in the vocabulary;
    /// added ones are listed in added_tokens too.</summary>
    public static JsonObject SentencePieceBpe(IEnumerable<HfTokenizerToken> tokens, IEnumerable<(string Left, string Right)> merges,
        bool addSpacePrefix, string? unkToken, string? bosToken)
    {
        var list = tokens.OrderBy(t => t.Id).ToList();
        var normalizers = new JsonArray();
        if (addSpacePrefix) normalizers.Add(new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" });
        normalizers.Add(new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" });
        var decoders = new JsonArray(
            new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "▁" }, ["content"] = " " },
            new JsonObject { ["type"] = "ByteFallback" },
            new JsonObject { ["type"] = "Fuse" });
        if (addSpacePrefix) decoders.Add(new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 });
        return new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = AddedTokens(list),
            ["normalizer"] = new JsonObject { ["type"] = "Sequence", ["normalizers"] = normalizers },
            ["pre_tokenizer"] = null,
            ["post_processor"] = bosToken is null ? null : Template([bosToken], [], list),
            ["decoder"] = new JsonObject { ["type"] = "Sequence", ["decoders"] = decoders },
            ["model"] = Model(list, merges, byteFallback: true, ignoreMerges: false, unk: unkToken),
        };
    }

    /// <summary>The special-token names of a tokenizer_config.json (null: none).</summary>
    public sealed record SpecialTokens(string? Bos, string? Eos, string? Pad = null, string? Unk = null);

    /// <summary>A tokenizer_config.json: added_tokens_decoder, the special tokens, whether BOS/EOS are added (omitted when
    /// null: the tokenizer.json post-processor decides), the chat template, model_max_length.</summary>
    public static JsonObject Config(IEnumerable<HfTokenizerToken> added, SpecialTokens special, bool? addBos, bool? addEos,
        string? chatTemplate, long modelMaxLength)
    {
        var decoder = new JsonObject();
        foreach (var a in added.OrderBy(t => t.Id))
            decoder[a.Id.ToString(CultureInfo.InvariantCulture)] = new JsonObject
            {
                ["content"] = a.Content, ["lstrip"] = false, ["normalized"] = a.Normalized, ["rstrip"] = false, ["single_word"] = false,
                ["special"] = a.Special,
            };
        var config = new JsonObject { ["added_tokens_decoder"] = decoder };
        if (addBos is { } bos) config["add_bos_token"] = bos;
        if (addEos is { } eos) config["add_eos_token"] = eos;
        config["bos_token"] = special.Bos;
        if (chatTemplate is not null) config["chat_template"] = chatTemplate;
        config["clean_up_tokenization_spaces"] = false; // decode must give back the exact text (true would rewrite " ." as ".")
        config["eos_token"] = special.Eos;
        config["model_input_names"] = new JsonArray("input_ids", "attention_mask");
        config["model_max_length"] = modelMaxLength;
        config["pad_token"] = special.Pad;
        if (special.Unk is not null) config["unk_token"] = special.Unk;
        config["tokenizer_class"] = "PreTrainedTokenizerFast";
        return config;
    }

    public static void Write(string path, JsonObject json) => AtomicFile.WriteAllText(path, json.ToJsonString(Indented) + "\n");

    private static JsonObject ByteLevel(bool addPrefixSpace, bool trimOffsets, bool useRegex) => new()
    {
        ["type"] = "ByteLevel", ["add_prefix_space"] = addPrefixSpace, ["trim_offsets"] = trimOffsets, ["use_regex"] = useRegex,
    };

    private static JsonArray AddedTokens(List<HfTokenizerToken> tokens) =>
        new(tokens.Where(t => t.Added).Select(t => (JsonNode)new JsonObject
        {
            ["id"] = t.Id, ["content"] = t.Content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = t.Normalized, ["special"] = t.Special,
        }).ToArray());

    private static JsonObject Model(IEnumerable<HfTokenizerToken> vocabTokens, IEnumerable<(string Left, string Right)> merges,
        bool byteFallback, bool ignoreMerges, string? unk)
    {
        var vocab = new JsonObject();
        foreach (var t in vocabTokens) vocab[t.Content] = t.Id;
        var pairs = merges.ToList();
        // "left right" strings are readable by every tokenizers/transformers version; pairs only where a side holds a space.
        bool asStrings = pairs.All(m => !m.Left.Contains(' ') && !m.Right.Contains(' '));
        return new JsonObject
        {
            ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = unk, ["continuing_subword_prefix"] = null,
            ["end_of_word_suffix"] = null, ["fuse_unk"] = byteFallback, ["byte_fallback"] = byteFallback,
            ["ignore_merges"] = ignoreMerges, ["vocab"] = vocab,
            ["merges"] = new JsonArray(pairs.Select(m => asStrings ? (JsonNode)(m.Left + " " + m.Right) : new JsonArray(m.Left, m.Right)).ToArray()),
        };
    }

    // single: prefix $A suffix; pair: prefix $A prefix $B suffix (Llama 3.1 puts BOS before each sequence).
    private static JsonObject Template(IReadOnlyList<string> prefix, IReadOnlyList<string> suffix, List<HfTokenizerToken> tokens)
    {
        static JsonObject Special(string id, int typeId) => new() { ["SpecialToken"] = new JsonObject { ["id"] = id, ["type_id"] = typeId } };
        static JsonObject Sequence(string id, int typeId) => new() { ["Sequence"] = new JsonObject { ["id"] = id, ["type_id"] = typeId } };
        var single = new JsonArray([.. prefix.Select(s => Special(s, 0)), Sequence("A", 0), .. suffix.Select(s => Special(s, 0))]);
        var pair = new JsonArray([.. prefix.Select(s => Special(s, 0)), Sequence("A", 0), .. prefix.Select(s => Special(s, 1)), Sequence("B", 1),
            .. suffix.Select(s => Special(s, 1))]);
        var specials = new JsonObject();
        foreach (var s in prefix.Concat(suffix).Distinct())
        {
            var id = tokens.FirstOrDefault(t => t.Content == s)?.Id ?? throw new InvalidDataException($"special token '{s}' is not in the vocabulary");
            specials[s] = new JsonObject { ["id"] = s, ["ids"] = new JsonArray(id), ["tokens"] = new JsonArray(s) };
        }
        return new JsonObject { ["type"] = "TemplateProcessing", ["single"] = single, ["pair"] = pair, ["special_tokens"] = specials };
    }
}
