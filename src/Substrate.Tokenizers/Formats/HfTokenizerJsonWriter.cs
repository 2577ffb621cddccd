using System.Text.Encodings.Web;
using System.Text.Json;

namespace Substrate.Tokenizers.Formats;

/// <summary>
/// Writes a byte-level BPE tokenizer as Hugging Face writes Llama 3's: <c>tokenizer.json</c> (BPE model
/// with ignore_merges, Split + ByteLevel pre-tokenizer, ByteLevel decoder, TemplateProcessing adding
/// BOS) and <c>tokenizer_config.json</c> (<c>PreTrainedTokenizerFast</c>, special-token names,
/// added_tokens_decoder, Llama-3 chat template when the header tokens exist). transformers'
/// AutoTokenizer loads the folder.
/// </summary>
public static class HfTokenizerJsonWriter
{
    /// <summary>Llama 3's chat template, word for word.</summary>
    public const string Llama3ChatTemplate =
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = true,
        // Write 'Ġ' and other non-ASCII characters as themselves, like HF does.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Save(ByteLevelBpeTokenizer tokenizer, string directory, long modelMaxLength = 8192)
    {
        if (tokenizer.Merges is null)
            throw new NotSupportedException("this tokenizer has tiktoken ranks, not an ordered merge list; only BPE tokenizers with merges can be saved as tokenizer.json");
        Directory.CreateDirectory(directory);
        Substrate.IO.AtomicFile.Write(Path.Combine(directory, "tokenizer.json"), stream =>
        {
            using var w = new Utf8JsonWriter(stream, WriterOptions);
            WriteTokenizerJson(w, tokenizer);
        });
        Substrate.IO.AtomicFile.Write(Path.Combine(directory, "tokenizer_config.json"), stream =>
        {
            using var w = new Utf8JsonWriter(stream, WriterOptions);
            WriteTokenizerConfig(w, tokenizer, modelMaxLength);
        });
    }

    private static void WriteTokenizerJson(Utf8JsonWriter w, ByteLevelBpeTokenizer t)
    {
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");
        w.WriteStartArray("added_tokens");
        foreach (var a in t.AddedTokens)
        {
            w.WriteStartObject();
            w.WriteNumber("id", a.Id);
            w.WriteString("content", a.Content);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", a.Normalized);
            w.WriteBoolean("special", a.Special);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNull("normalizer");

        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("pretokenizers");
        w.WriteStartObject();
        w.WriteString("type", "Split");
        w.WriteStartObject("pattern");
        w.WriteString("Regex", t.Options.Pattern);
        w.WriteEndObject();
        w.WriteString("behavior", "Isolated");
        w.WriteBoolean("invert", false);
        w.WriteEndObject();
        WriteByteLevel(w, addPrefixSpace: t.Options.AddPrefixSpace, trimOffsets: true, useRegex: false);
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteStartObject("post_processor");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("processors");
        WriteByteLevel(w, addPrefixSpace: true, trimOffsets: false, useRegex: true);
        WriteTemplate(w, t);
        w.WriteEndArray();
        w.WriteEndObject();

        w.WritePropertyName("decoder");
        WriteByteLevel(w, addPrefixSpace: true, trimOffsets: true, useRegex: true);

        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteBoolean("ignore_merges", t.Options.IgnoreMerges);
        w.WriteStartObject("vocab");
        foreach (var (token, id) in t.Vocab.OrderBy(p => p.Value)) w.WriteNumber(token, id);
        w.WriteEndObject();
        // "left right" strings: readable by every tokenizers/transformers version (byte-level tokens never hold a space).
        w.WriteStartArray("merges");
        foreach (var (left, right) in t.Merges!) w.WriteStringValue(left + " " + right);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteByteLevel(Utf8JsonWriter w, bool addPrefixSpace, bool trimOffsets, bool useRegex)
    {
        w.WriteStartObject();
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", addPrefixSpace);
        w.WriteBoolean("trim_offsets", trimOffsets);
        w.WriteBoolean("use_regex", useRegex);
        w.WriteEndObject();
    }

    // single: prefix $A suffix; pair: prefix $A prefix $B suffix (Llama 3.1 puts BOS before each sequence).
    private static void WriteTemplate(Utf8JsonWriter w, ByteLevelBpeTokenizer t)
    {
        var prefix = t.Options.PrefixTokens;
        var suffix = t.Options.SuffixTokens;
        w.WriteStartObject();
        w.WriteString("type", "TemplateProcessing");
        w.WriteStartArray("single");
        foreach (var s in prefix) Special(s, 0);
        Sequence("A", 0);
        foreach (var s in suffix) Special(s, 0);
        w.WriteEndArray();
        w.WriteStartArray("pair");
        foreach (var s in prefix) Special(s, 0);
        Sequence("A", 0);
        foreach (var s in prefix) Special(s, 1);
        Sequence("B", 1);
        foreach (var s in suffix) Special(s, 1);
        w.WriteEndArray();
        w.WriteStartObject("special_tokens");
        foreach (var s in prefix.Concat(suffix).Distinct())
        {
            w.WriteStartObject(s);
            w.WriteString("id", s);
            w.WriteStartArray("ids");
            w.WriteNumberValue(t.TokenToId(s)!.Value);
            w.WriteEndArray();
            w.WriteStartArray("tokens");
            w.WriteStringValue(s);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteEndObject();

        void Special(string id, int typeId)
        {
            w.WriteStartObject();
            w.WriteStartObject("SpecialToken");
            w.WriteString("id", id);
            w.WriteNumber("type_id", typeId);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        void Sequence(string id, int typeId)
        {
            w.WriteStartObject();
            w.WriteStartObject("Sequence");
            w.WriteString("id", id);
            w.WriteNumber("type_id", typeId);
            w.WriteEndObject();
            w.WriteEndObject();
        }
    }

    private static void WriteTokenizerConfig(Utf8JsonWriter w, ByteLevelBpeTokenizer t, long modelMaxLength)
    {
        w.WriteStartObject();
        w.WriteStartObject("added_tokens_decoder");
        foreach (var a in t.AddedTokens)
        {
            w.WriteStartObject(a.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("content", a.Content);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("normalized", a.Normalized);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("special", a.Special);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        WriteTokenName(w, "bos_token", t.Special.Bos, t);
        bool hasChatTokens = new[] { "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>" }.All(s => t.TokenToId(s) is not null);
        if (hasChatTokens && t.Special.Bos is not null) w.WriteString("chat_template", Llama3ChatTemplate);
        // false: decode must give back the exact text (true would rewrite " ." as ".").
        w.WriteBoolean("clean_up_tokenization_spaces", false);
        WriteTokenName(w, "eos_token", t.Special.Eos, t);
        w.WriteStartArray("model_input_names");
        w.WriteStringValue("input_ids");
        w.WriteStringValue("attention_mask");
        w.WriteEndArray();
        w.WriteNumber("model_max_length", modelMaxLength);
        WriteTokenName(w, "pad_token", t.Special.Pad, t);
        w.WriteString("tokenizer_class", "PreTrainedTokenizerFast");
        w.WriteEndObject();
    }

    private static void WriteTokenName(Utf8JsonWriter w, string name, int? id, ByteLevelBpeTokenizer t)
    {
        if (id is int i) w.WriteString(name, t.IdToToken(i));
        else w.WriteNull(name);
    }
}
