using Substrate.Models;
using Substrate.Tokenizers;

namespace Substrate.Inference;

/// <summary>
/// Text in, text out: encodes the prompt (with the tokenizer's special tokens, e.g. BOS), runs the
/// <see cref="TokenGenerator"/>, and streams decoded pieces. Stops at EOS (the tokenizer's or the
/// config's), a stop string (trimmed from the output), MaxTokens or the end of the context.
/// </summary>
public sealed class Generator(TokenGenerator tokens, ITokenizer tokenizer)
{
    public Generator(LlamaForCausalLM model, ITokenizer tokenizer) : this(new TokenGenerator(model), tokenizer) { }

    public LlamaForCausalLM Model => tokens.Model;
    public ITokenizer Tokenizer => tokenizer;

    /// <summary>Decoded pieces as they become final; concatenated they are the whole output.
    /// <paramref name="stats"/>, when given, is filled in as the stream is read.</summary>
    public IEnumerable<string> Stream(string prompt, GenerationOptions options, GenerationStats? stats = null)
    {
        var ids = tokenizer.Encode(prompt, addSpecialTokens: true);
        return Stream(ids, options, stats);
    }

    /// <summary>Streams the continuation of already-encoded prompt ids.</summary>
    public IEnumerable<string> Stream(IReadOnlyList<int> promptIds, GenerationOptions options, GenerationStats? stats = null) =>
        Stream(promptIds, options, StopRules.For(tokens.Config, tokens.Context, tokenizer, options), stats);

    /// <summary>Streams the continuation of prompt ids until <paramref name="stops"/> ends it (for a chat: built with its
    /// <see cref="Substrate.Tokenizers.ChatTemplates.ChatFormat"/>).</summary>
    public IEnumerable<string> Stream(IReadOnlyList<int> promptIds, GenerationOptions options, StopRules stops, GenerationStats? stats = null)
    {
        stats ??= new GenerationStats();
        var idStream = tokens.Generate(promptIds, options, stops, stats); // validates eagerly
        return Pieces(idStream, stops, stats);
    }

    private IEnumerable<string> Pieces(IEnumerable<int> idStream, StopRules stops, GenerationStats stats)
    {
        var decoder = new IncrementalDecoder(tokenizer, stops);
        foreach (var id in idStream)
        {
            var piece = decoder.Push(id);
            if (piece.Length > 0) yield return piece;
            if (decoder.Stopped)
            {
                stats.FinishReason = FinishReason.Stop;
                yield break;
            }
        }
        var rest = decoder.Flush();
        if (rest.Length > 0) yield return rest;
    }

    /// <summary>The whole continuation as one string.</summary>
    public string Generate(string prompt, GenerationOptions options) => string.Concat(Stream(prompt, options));
}
