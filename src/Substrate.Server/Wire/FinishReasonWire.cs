using Substrate.Inference;

namespace Substrate.Server.Wire;

/// <summary>OpenAI's <c>finish_reason</c> strings for the engine's <see cref="FinishReason"/>: the text ended (EOS or a
/// stop string) is "stop", a token limit (max_tokens or the context) "length", a tool call "tool_calls".</summary>
public static class FinishReasonWire
{
    public static string ToWire(this FinishReason reason) => reason switch
    {
        FinishReason.MaxTokens or FinishReason.Context => "length",
        FinishReason.ToolCalls => "tool_calls",
        _ => "stop",
    };
}
