using Substrate.Tokenizers;
using Substrate.Tokenizers.Bpe;
using Substrate.Tokenizers.Formats;

namespace Substrate.Interop.Gguf;

/// <summary>
/// Rebuilds <c>tokenizer.json</c> and <c>tokenizer_config.json</c> from a GGUF file's <c>tokenizer.ggml.*</c>
/// keys: <c>gpt2</c> → byte-level BPE (with Llama 3's split regex when <c>pre</c> is <c>llama-bpe</c>), <c>llama</c> →
/// SentencePiece-style BPE with byte fallback, its merges recovered from the scores (as Hugging Face's
/// SentencePiece converter does: every split of a piece into two vocabulary pieces, best-scored piece first).
/// </summary>
public static class GgufTokenizerImporter
{
    /// <summary>Writes the two files into <paramref name="outDir"/>; returns false when the file carries no tokenizer.</summary>
    public static bool WriteFolder(GgufReader reader, string outDir)
    {
        var kind = reader.GetString("tokenizer.ggml.model");
        if (kind is null or "none") return false;
        var tokens = reader.Require("tokenizer.ggml.tokens").AsArray<string>();
        var types = reader.Get("tokenizer.ggml.token_type") is { } tt ? tt.AsInt64Array() : Enumerable.Repeat(1L, tokens.Length).ToArray();
        if (types.Length != tokens.Length)
            throw new InvalidDataException($"{reader.Path}: {tokens.Length} tokens but {types.Length} token types");
        string? Token(string key) => reader.GetInt(key) is { } id && id >= 0 && id < tokens.Length ? tokens[id] : null;
        var bos = Token("tokenizer.ggml.bos_token_id");
        var eos = Token("tokenizer.ggml.eos_token_id");
        var pad = Token("tokenizer.ggml.padding_token_id");
        bool addEos = reader.GetBool("tokenizer.ggml.add_eos_token") ?? false;
        var template = reader.GetString("tokenizer.chat_template");

        var list = new List<HfTokenizerToken>(tokens.Length);
        for (int i = 0; i < tokens.Length; i++)
        {
            var type = (GgufTokenType)types[i];
            if (type == GgufTokenType.Unused) continue; // padding rows of the embedding ([PADn])
            bool added = type is GgufTokenType.Control or GgufTokenType.UserDefined || (kind == "llama" && type == GgufTokenType.Unknown);
            list.Add(new HfTokenizerToken(i, tokens[i], added, Special: added && type != GgufTokenType.UserDefined));
        }

        System.Text.Json.Nodes.JsonObject json;
        bool addBos;
        string? unk = null;
        switch (kind)
        {
            case "gpt2":
                var merges = (reader.Get("tokenizer.ggml.merges")?.AsArray<string>() ?? []).Select(m =>
                {
                    int space = m.IndexOf(' ', 1);
                    if (space < 0) throw new InvalidDataException($"{reader.Path}: merge \"{m}\" is not \"left right\"");
                    return (m[..space], m[(space + 1)..]);
                }).ToList();
                var pre = reader.GetString("tokenizer.ggml.pre") ?? "default";
                var (pattern, ignoreMerges) = pre switch
                {
                    "llama-bpe" or "llama3" => (PreTokenizerPatterns.Llama3, true),
                    "gpt-2" or "default" => (PreTokenizerPatterns.Gpt2, false),
                    _ => throw new NotSupportedException(
                        $"{reader.Path}: tokenizer.ggml.pre '{pre}' has no tokenizer.json counterpart here (supported: llama-bpe, gpt-2, default)"),
                };
                addBos = reader.GetBool("tokenizer.ggml.add_bos_token") ?? pre is "llama-bpe" or "llama3";
                json = HfTokenizerJson.ByteLevelBpe(list, merges, new ByteLevelBpeOptions
                {
                    Pattern = pattern, IgnoreMerges = ignoreMerges, PrefixTokens = addBos && bos is not null ? [bos] : [],
                });
                break;
            case "llama":
                var scores = reader.Get("tokenizer.ggml.scores")?.AsArray<float>() ?? new float[tokens.Length];
                if (scores.Length != tokens.Length) throw new InvalidDataException($"{reader.Path}: {tokens.Length} tokens but {scores.Length} scores");
                unk = Token("tokenizer.ggml.unknown_token_id") ?? list.FirstOrDefault(t => types[t.Id] == (long)GgufTokenType.Unknown)?.Content;
                addBos = reader.GetBool("tokenizer.ggml.add_bos_token") ?? true;
                json = HfTokenizerJson.SentencePieceBpe(list, MergesFromScores(list, types, scores),
                    reader.GetBool("tokenizer.ggml.add_space_prefix") ?? true, unk, addBos ? bos : null);
                break;
            default:
                throw new NotSupportedException($"{reader.Path}: tokenizer.ggml.model '{kind}' cannot be imported (supported: gpt2, llama)");
        }
        Directory.CreateDirectory(outDir);
        HfTokenizerJson.Write(Path.Combine(outDir, "tokenizer.json"), json);
        HfTokenizerJson.Write(Path.Combine(outDir, "tokenizer_config.json"), HfTokenizerJson.Config(list.Where(t => t.Added),
            new HfTokenizerJson.SpecialTokens(bos, eos, pad, unk), addBos, addEos, template, modelMaxLength: 1_000_000_000_000_000_000L));
        return true;
    }

    /// <summary>Merges that rebuild each normal piece from two normal pieces, the best-scored piece's first.</summary>
    public static List<(string Left, string Right)> MergesFromScores(IReadOnlyList<HfTokenizerToken> tokens, long[] types, float[] scores)
    {
        var pieces = tokens.Where(t => !t.Added && types[t.Id] == (long)GgufTokenType.Normal).ToList();
        var ids = pieces.ToDictionary(t => t.Content, t => t.Id, StringComparer.Ordinal);
        var candidates = new List<(float Score, int Id, int Left, int Right, string L, string R)>();
        foreach (var piece in pieces)
        {
            var s = piece.Content;
            for (int i = 1; i < s.Length; i++)
            {
                if (char.IsLowSurrogate(s[i])) continue;
                if (ids.TryGetValue(s[..i], out var l) && ids.TryGetValue(s[i..], out var r))
                    candidates.Add((scores[piece.Id], piece.Id, l, r, s[..i], s[i..]));
            }
        }
        return candidates
            .OrderByDescending(c => c.Score).ThenBy(c => c.Id).ThenBy(c => c.Left).ThenBy(c => c.Right)
            .Select(c => (c.L, c.R)).ToList();
    }
}
