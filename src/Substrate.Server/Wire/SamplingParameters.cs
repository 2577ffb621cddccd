using Substrate.Inference;

namespace Substrate.Server.Wire;

/// <summary>
/// The sampling fields chat and text completions share, read into <see cref="GenerationOptions"/>. A field the request
/// sets wins. A field it omits takes OpenAI's default where OpenAI defines one (temperature 1, top_p 1), else the model's
/// <see cref="GenerationDefaults"/> (generation_config.json: top_k, repetition_penalty, max_new_tokens for max_tokens —
/// capped by the context, which is the default without it). The model's eos_token_id ids the engine adds itself.
/// </summary>
public static class SamplingParameters
{
    public const double OpenAiTemperature = 1.0, OpenAiTopP = 1.0;

    /// <summary>One line saying what requests that omit sampling fields get, and where it comes from.</summary>
    public static string DescribeDefaults(GenerationDefaults model) => FormattableString.Invariant(
        $"request defaults: temperature {OpenAiTemperature}, top_p {OpenAiTopP} (OpenAI's); top_k {model.TopK}, ")
        + FormattableString.Invariant($"repetition_penalty {model.RepetitionPenalty}, max_tokens {model.MaxNewTokens?.ToString() ?? "the context"}")
        + (model.EosTokenIds.Count > 0 ? $", eos ids [{string.Join(", ", model.EosTokenIds)}]" : "") + $" (from {model.Source})";

    public static GenerationOptions Read(RequestReader r, int context, GenerationDefaults model)
    {
        if (r.Integer("n", 1, 128) is > 1) throw ApiException.Invalid("only n = 1 is supported", "n", "unsupported_value");
        // Not implemented: refused rather than silently ignored (repetition_penalty is the supported penalty).
        foreach (var penalty in new[] { "frequency_penalty", "presence_penalty" })
            if (r.Number(penalty, -2, 2) is double value && value != 0)
                throw ApiException.Invalid($"{penalty} is not supported; use repetition_penalty", penalty, "unsupported_value");
        var maxTokens = r.Integer("max_completion_tokens", 1, int.MaxValue) ?? r.Integer("max_tokens", 1, int.MaxValue) ?? model.MaxNewTokens ?? context;
        return new GenerationOptions
        {
            MaxTokens = (int)Math.Min(maxTokens, context),
            Temperature = r.Number("temperature", 0, 2) ?? OpenAiTemperature,
            TopP = r.Number("top_p", double.Epsilon, 1) ?? OpenAiTopP,
            TopK = (int)(r.Integer("top_k", 0, int.MaxValue) ?? model.TopK),
            RepetitionPenalty = r.Number("repetition_penalty", double.Epsilon, 10) ?? model.RepetitionPenalty,
            Seed = r.Integer("seed", long.MinValue, long.MaxValue),
            StopStrings = (r.Strings("stop", 4) ?? []).Where(s => s.Length > 0).ToList(),
            LogitBias = LogitBias(r),
        };
    }

    /// <summary>OpenAI's <c>logit_bias</c>: an object of token-id strings to biases in [-100, 100]. The ids are checked
    /// against the vocabulary by the engine (<see cref="GenerationOptions.Validate(int)"/>).</summary>
    private static Dictionary<int, double> LogitBias(RequestReader r)
    {
        var bias = new Dictionary<int, double>();
        if (r.Object("logit_bias") is not { } o) return bias;
        foreach (var entry in o.Root.EnumerateObject())
        {
            var param = o.Param(entry.Name);
            if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id))
                throw ApiException.Invalid($"'{param}': the key must be a token id (a non-negative integer)", param, "invalid_value");
            bias[id] = o.Number(entry.Name, -GenerationOptions.MaxLogitBias, GenerationOptions.MaxLogitBias)
                ?? throw ApiException.Invalid($"'{param}' must be a number", param, "invalid_type");
        }
        return bias;
    }
}
