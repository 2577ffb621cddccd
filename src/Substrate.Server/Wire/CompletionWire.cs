using System.Text.Json.Serialization;

namespace Substrate.Server.Wire;

// The legacy text completion objects (/v1/completions), logprobs in their older layout.

public sealed record WireCompletionLogprobs(List<string> Tokens, List<float> TokenLogprobs, List<Dictionary<string, float>?> TopLogprobs, List<int> TextOffset);

public sealed record WireCompletionChoice(string Text, int Index,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] WireCompletionLogprobs? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

public sealed record WireCompletion(string Id, long Created, string Model, IReadOnlyList<WireCompletionChoice> Choices, WireUsage? Usage = null)
{
    public string Object => "text_completion";
}
