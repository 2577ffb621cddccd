using Substrate.Inference;

namespace Substrate.Server;

/// <summary>The sampling fields chat and text completions share, read into <see cref="GenerationOptions"/>.</summary>
public static class SamplingParameters
{
    public static GenerationOptions Read(RequestReader r, int context)
    {
        if (r.Integer("n", 1, 128) is > 1) throw ApiException.Invalid("only n = 1 is supported", "n", "unsupported_value");
        // Not implemented: refused rather than silently ignored (repetition_penalty is the supported penalty).
        foreach (var penalty in new[] { "frequency_penalty", "presence_penalty" })
            if (r.Number(penalty, -2, 2) is double value && value != 0)
                throw ApiException.Invalid($"{penalty} is not supported; use repetition_penalty", penalty, "unsupported_value");
        var maxTokens = r.Integer("max_completion_tokens", 1, int.MaxValue) ?? r.Integer("max_tokens", 1, int.MaxValue) ?? context;
        return new GenerationOptions
        {
            MaxTokens = (int)Math.Min(maxTokens, context),
            Temperature = r.Number("temperature", 0, 2) ?? 1.0,
            TopP = r.Number("top_p", double.Epsilon, 1) ?? 1.0,
            TopK = (int)(r.Integer("top_k", 0, int.MaxValue) ?? 0),
            RepetitionPenalty = r.Number("repetition_penalty", double.Epsilon, 10) ?? 1.0,
            Seed = r.Integer("seed", long.MinValue, long.MaxValue),
            StopStrings = (r.Strings("stop", 4) ?? []).Where(s => s.Length > 0).ToList(),
        };
    }
}
