using Substrate.IO;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Substrate.Interop.Gguf;

/// <summary>One token of a tokenizer being written: its id, text, and whether it is an added (special or user-defined) token.</summary>
public sealed record HfTokenizerToken(int Id, string Content, bool Added = false, bool Special = false);

/// <summary>
/// Writes Hugging Face <c>tokenizer.json</c> and <c>tokenizer_config.json</c> files for the two BPE families
/// llama.cpp knows: byte-level BPE (GPT-2 / Llama 3) and SentencePiece-style BPE with byte fallback (Llama 2).
/// </summary>
public static class HfTokenizerJson
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>
    /// A byte-level BPE tokenizer.json. <paramref name="splitPattern"/> null means ByteLevel's own GPT-2 regex;
    /// otherwise a Split pre-tokenizer with that regex runs first (Llama 3). With <paramref name="bosToken"/>,
    /// a TemplateProcessing post-processor puts it before each sequence.
    /// </summary>
    public static JsonObject ByteLevelBpe(IEnumerable<HfTokenizerToken> tokens, IEnumerable<(string Left, string Right)> merges,
        string? splitPattern, bool ignoreMerges, string? bosToken)
    {
        var list = tokens.OrderBy(t => t.Id).ToList();
        var byteLevel = new JsonObject
        {
            ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = splitPattern is null,
        };
        JsonNode preTokenizer = splitPattern is null ? byteLevel : new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject
                {
                    ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = splitPattern },
                    ["behavior"] = "Isolated", ["invert"] = false,
                },
                byteLevel),
        };
        return new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = AddedTokens(list),
            ["normalizer"] = null,
            ["pre_tokenizer"] = preTokenizer,
            ["post_processor"] = Template(bosToken, list),
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = Model(list.Where(t => !t.Added), merges, byteFallback: false, ignoreMerges, unk: null),
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
            ["post_processor"] = Template(bosToken, list),
            ["decoder"] = new JsonObject { ["type"] = "Sequence", ["decoders"] = decoders },
            ["model"] = Model(list, merges, byteFallback: true, ignoreMerges: false, unk: unkToken),
        };
    }

    /// <summary>A tokenizer_config.json naming the special tokens, whether BOS/EOS are added, and the chat template.</summary>
    public static JsonObject Config(string? bos, string? eos, string? pad, string? unk, bool addBos, bool addEos, string? chatTemplate)
    {
        var config = new JsonObject
        {
            ["add_bos_token"] = addBos,
            ["add_eos_token"] = addEos,
            ["bos_token"] = bos,
            ["eos_token"] = eos,
            ["pad_token"] = pad,
            ["unk_token"] = unk,
            ["clean_up_tokenization_spaces"] = false,
            ["model_max_length"] = 1_000_000_000_000_000_000L,
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
        };
        if (chatTemplate is not null) config["chat_template"] = chatTemplate;
        return config;
    }

    public static void Write(string path, JsonObject json) => AtomicFile.WriteAllText(path, json.ToJsonString(Indented) + "\n");

    private static JsonArray AddedTokens(List<HfTokenizerToken> tokens) =>
        new(tokens.Where(t => t.Added).Select(t => (JsonNode)new JsonObject
        {
            ["id"] = t.Id, ["content"] = t.Content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = t.Special,
        }).ToArray());

    private static JsonObject Model(IEnumerable<HfTokenizerToken> vocabTokens, IEnumerable<(string Left, string Right)> merges,
        bool byteFallback, bool ignoreMerges, string? unk)
    {
        var vocab = new JsonObject();
        foreach (var t in vocabTokens) vocab[t.Content] = t.Id;
        return new JsonObject
        {
            ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = unk, ["continuing_subword_prefix"] = null,
            ["end_of_word_suffix"] = null, ["fuse_unk"] = byteFallback, ["byte_fallback"] = byteFallback,
            ["ignore_merges"] = ignoreMerges, ["vocab"] = vocab,
            ["merges"] = new JsonArray(merges.Select(m => (JsonNode)new JsonArray(m.Left, m.Right)).ToArray()),
        };
    }

    private static JsonNode? Template(string? bos, List<HfTokenizerToken> tokens)
    {
        if (bos is null) return null;
        var id = tokens.First(t => t.Content == bos).Id;
        return new JsonObject
        {
            ["type"] = "TemplateProcessing",
            ["single"] = new JsonArray(
                new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = bos, ["type_id"] = 0 } },
                new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
            ["pair"] = new JsonArray(
                new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = bos, ["type_id"] = 0 } },
                new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } },
                new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = bos, ["type_id"] = 1 } },
                new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "B", ["type_id"] = 1 } }),
            ["special_tokens"] = new JsonObject
            {
                [bos] = new JsonObject { ["id"] = bos, ["ids"] = new JsonArray(id), ["tokens"] = new JsonArray(bos) },
            },
        };
    }
}
