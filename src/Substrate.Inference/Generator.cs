using Substrate.Models;
using Substrate.Tokenizers;

namespace Substrate.Inference;

/// <summary>
/// Text in, text out: encodes the prompt (with the tokenizer's special tokens, e.g. BOS), runs the
/// <see cref="TokenGenerator"/>, and streams decoded pieces. Stops at EOS (the tokenizer's or the
/// config's), a stop string (trimmed from the output), MaxTokens or the end of the context.
/// </summary>
public sealed class Generator(LlamaForCausalLM model, ITokenizer tokenizer)
{
    private readonly TokenGenerator tokens = new(model);

    public LlamaForCausalLM Model => model;
    public ITokenizer Tokenizer => tokenizer;

    /// <summary>Decoded pieces as they become final; concatenated they are the whole output.
    /// <paramref name="stats"/>, when given, is filled in as the stream is read.</summary>
    public IEnumerable<string> Stream(string prompt, GenerationOptions options, GenerationStats? stats = null)
    {
        var ids = tokenizer.Encode(prompt, addSpecialTokens: true);
        return Stream(ids, options, stats);
    }

    /// <summary>Streams the continuation of already-encoded prompt ids.</summary>
    public IEnumerable<string> Stream(IReadOnlyList<int> promptIds, GenerationOptions options, GenerationStats? stats = null)
    {
        var stopIds = new HashSet<int>();
        if (tokenizer.Special.Eos is { } eos) stopIds.Add(eos);
        if (model.Config.EosTokenId is { } configEos) stopIds.Add(configEos);
        stopIds.UnionWith(options.StopTokenIds);
        stats ??= new GenerationStats();
        var idStream = tokens.Generate(promptIds, options, stopIds, stats); // validates eagerly
        return Pieces(idStream, options, stats);
    }

    private IEnumerable<string> Pieces(IEnumerable<int> idStream, GenerationOptions options, GenerationStats stats)
    {
        var decoder = new IncrementalDecoder(tokenizer, options.StopStrings);
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
