namespace Substrate.Server.Wire;

/// <summary>Limits the OpenAI API sets on request fields, checked where requests are read (the engine has its own,
/// wider ones).</summary>
public static class OpenAiLimits
{
    /// <summary>The most alternatives per token: <c>top_logprobs</c> (chat) and <c>logprobs</c> (text completions).</summary>
    public const int MaxTopLogprobs = 20;
}
