using Substrate.Models;
using Substrate.Tokenizers;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Inference;

/// <summary>
/// When generation ends — the one rule both decode loops (<see cref="TokenGenerator"/>, <see cref="BatchScheduler"/>)
/// follow. Built once per request from the tokenizer, the model, the chat format (for a chat) and the options:
/// a sampled id in <see cref="StopIds"/> ends it at once and is not output (Eos); after a token joined the output,
/// a stop string ends it (Stop), then <see cref="MaxTokens"/> new tokens (MaxTokens), then a full context (Context).
/// The text side: where a stop string begins, and how much text to hold back while it might still be one.
/// </summary>
public sealed class StopRules(IEnumerable<int> stopIds, IReadOnlyList<string> stopStrings, int maxTokens, int context)
{
    /// <summary>Ids that end generation: EOS (the tokenizer's, the model config's, generation_config.json's) and, for a chat,
    /// the end-of-turn ids.</summary>
    public IReadOnlySet<int> StopIds { get; } = new HashSet<int>(stopIds);

    /// <summary>Text that ends generation and is not part of the output: the request's, then the chat format's.</summary>
    public IReadOnlyList<string> StopStrings { get; } = stopStrings;

    public int MaxTokens { get; } = maxTokens;

    /// <summary>Positions the model has (prompt plus output).</summary>
    public int Context { get; } = context;

    /// <summary>The rules of one request: EOS, <paramref name="chat"/>'s end of turn when the prompt is a chat,
    /// the options' stop strings and max tokens, and the model's context.</summary>
    public static StopRules For(LlamaForCausalLM model, ITokenizer tokenizer, GenerationOptions options, ChatFormat? chat = null) =>
        For(model.Config, model.Config.MaxPositionEmbeddings, tokenizer, options, chat);

    /// <summary>As above, for a model known by its config and the context it runs with.</summary>
    public static StopRules For(ModelConfig config, int context, ITokenizer tokenizer, GenerationOptions options, ChatFormat? chat = null)
    {
        var ids = new List<int>(chat?.StopIds ?? []);
        if (tokenizer.Special.Eos is { } eos) ids.Add(eos);
        if (config.EosTokenId is { } configEos) ids.Add(configEos);
        ids.AddRange(options.StopTokenIds); // generation_config.json's eos_token_id list
        IReadOnlyList<string> strings = [.. options.StopStrings, .. chat?.StopStrings ?? []];
        return new StopRules(ids, strings, options.MaxTokens, context);
    }

    /// <summary>Only stop strings (no ids, no limits): what <see cref="IncrementalDecoder"/> needs on its own.</summary>
    public static StopRules Strings(IReadOnlyList<string>? stopStrings) => new([], stopStrings ?? [], int.MaxValue, int.MaxValue);

    /// <summary>Whether a sampled id ends generation (before it joins the output).</summary>
    public bool IsStopId(int id) => StopIds.Contains(id);

    /// <summary>Why generation ends once <paramref name="generated"/> tokens are out and the sequence is
    /// <paramref name="length"/> tokens long, or null to go on; <paramref name="stopped"/>: the output met a stop
    /// (a stop string, or a constraint that completed). Before the first token it says whether there is room for one.</summary>
    public FinishReason? Check(int generated, int length, bool stopped = false) =>
        stopped ? FinishReason.Stop
        : generated >= MaxTokens ? FinishReason.MaxTokens
        : length >= Context ? FinishReason.Context
        : null;

    /// <summary>Where the first stop string begins in <paramref name="text"/> at or after <paramref name="from"/>; -1 if none.</summary>
    public int FirstStop(string text, int from)
    {
        var first = -1;
        foreach (var stop in StopStrings)
        {
            var at = text.IndexOf(stop, Math.Max(0, from), StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        return first;
    }

    /// <summary>How many characters before <paramref name="end"/> (and after <paramref name="from"/>) to hold back:
    /// the longest tail of text[..end] that begins some stop string.</summary>
    public int HeldBack(string text, int from, int end)
    {
        var held = 0;
        foreach (var stop in StopStrings)
            for (var n = Math.Min(stop.Length - 1, end - from); n > held; n--)
                if (string.CompareOrdinal(text, end - n, stop, 0, n) == 0) { held = n; break; }
        return held;
    }
}
