namespace Substrate.Tokenizers.Formats;

/// <summary>
/// Writes a byte-level BPE tokenizer as Hugging Face writes Llama 3's: <c>tokenizer.json</c> (BPE model
/// with ignore_merges, Split + ByteLevel pre-tokenizer, ByteLevel decoder, TemplateProcessing adding
/// BOS) and <c>tokenizer_config.json</c> (<c>PreTrainedTokenizerFast</c>, special-token names,
/// added_tokens_decoder, Llama-3 chat template when the header tokens exist), through <see cref="HfTokenizerJson"/>.
/// transformers' AutoTokenizer loads the folder.
/// </summary>
public static class HfTokenizerJsonWriter
{
    /// <summary>Llama 3's chat template, word for word.</summary>
    public const string Llama3ChatTemplate =
        "{% set loop_messages = messages %}{% for message in loop_messages %}" +
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}" +
        "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

    public static void Save(ByteLevelBpeTokenizer tokenizer, string directory, long modelMaxLength = 8192)
    {
        if (tokenizer.Merges is null)
            throw new NotSupportedException("this tokenizer has tiktoken ranks, not an ordered merge list; "
                + "only BPE tokenizers with merges can be saved as tokenizer.json");
        var added = tokenizer.AddedTokens.Select(a => new HfTokenizerToken(a.Id, a.Content, Added: true, a.Special, a.Normalized)).ToList();
        var tokens = tokenizer.Vocab.Select(p => new HfTokenizerToken(p.Value, p.Key)).Concat(added);
        string? Name(int? id) => id is int i ? tokenizer.IdToToken(i) : null;
        bool hasChatTokens = new[] { "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>" }.All(s => tokenizer.TokenToId(s) is not null);
        var special = new HfTokenizerJson.SpecialTokens(Name(tokenizer.Special.Bos), Name(tokenizer.Special.Eos), Name(tokenizer.Special.Pad));
        Directory.CreateDirectory(directory);
        HfTokenizerJson.Write(Path.Combine(directory, "tokenizer.json"), HfTokenizerJson.ByteLevelBpe(tokens, tokenizer.Merges, tokenizer.Options));
        HfTokenizerJson.Write(Path.Combine(directory, "tokenizer_config.json"), HfTokenizerJson.Config(added, special, addBos: null, addEos: null,
            hasChatTokens && tokenizer.Special.Bos is not null ? Llama3ChatTemplate : null, modelMaxLength));
    }
}
