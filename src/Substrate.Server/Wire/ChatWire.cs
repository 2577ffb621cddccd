using System.Text.Json.Serialization;
using Substrate.Inference;
using Substrate.Inference.Serving;
using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Server.Wire;

// The OpenAI chat completion objects, as the API writes them (snake_case through WireJson).

public sealed record WireUsage(int PromptTokens, int CompletionTokens, int TotalTokens)
{
    public static WireUsage From(CompletionUsage u) => new(u.PromptTokens, u.CompletionTokens, u.TotalTokens);
}

public sealed record WireFunction(string? Name, string? Arguments);

public sealed record WireToolCall(string? Id, string? Type, WireFunction Function, int? Index = null)
{
    public static WireToolCall From(ToolCall c, int? index = null) => new(c.Id, "function", new WireFunction(c.Name, c.Arguments), index);
}

public sealed record WireChatMessage(string Role, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Content,
    IReadOnlyList<WireToolCall>? ToolCalls = null, string? Refusal = null);

public sealed record WireTopLogprob(string Token, float Logprob, byte[] Bytes);

public sealed record WireTokenLogprob(string Token, float Logprob, byte[] Bytes, IReadOnlyList<WireTopLogprob> TopLogprobs)
{
    public static WireTokenLogprob From(TokenDetail d) => new(d.Token, d.Logprob, System.Text.Encoding.UTF8.GetBytes(d.Token),
        d.Top.Select(t => new WireTopLogprob(t.Key, t.Value, System.Text.Encoding.UTF8.GetBytes(t.Key))).ToList());
}

public sealed record WireChatLogprobs(IReadOnlyList<WireTokenLogprob> Content);

public sealed record WireChatChoice(int Index, WireChatMessage Message,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] WireChatLogprobs? Logprobs, string FinishReason);

public sealed record WireChatCompletion(string Id, long Created, string Model, IReadOnlyList<WireChatChoice> Choices, WireUsage Usage)
{
    public string Object => "chat.completion";
}

public sealed record WireChatDelta(string? Role = null, string? Content = null, IReadOnlyList<WireToolCall>? ToolCalls = null);

public sealed record WireChunkChoice(int Index, WireChatDelta Delta,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] WireChatLogprobs? Logprobs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? FinishReason);

public sealed record WireChatChunk(string Id, long Created, string Model, IReadOnlyList<WireChunkChoice> Choices, WireUsage? Usage = null)
{
    public string Object => "chat.completion.chunk";
}
