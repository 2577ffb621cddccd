namespace Substrate.Inference.Serving;

/// <summary>The ways a request may let the model use its tools.</summary>
public enum ToolChoiceMode
{
    /// <summary>Tools are not offered; the reply is text.</summary>
    None,
    /// <summary>The model decides: the output becomes a tool call when it is one.</summary>
    Auto,
    /// <summary>The reply must be a call of some tool.</summary>
    Required,
    /// <summary>The reply must be a call of the one tool <see cref="ToolChoice.FunctionName"/>.</summary>
    Function,
}

/// <summary>How tools may be used: <see cref="None"/>, <see cref="Auto"/>, <see cref="Required"/> or
/// <see cref="Function"/>(name). Only these four values can be made, so a name comes exactly with Function.</summary>
public sealed record ToolChoice
{
    private ToolChoice(ToolChoiceMode mode, string? functionName) => (Mode, FunctionName) = (mode, functionName);

    public static ToolChoice None { get; } = new(ToolChoiceMode.None, null);
    public static ToolChoice Auto { get; } = new(ToolChoiceMode.Auto, null);
    public static ToolChoice Required { get; } = new(ToolChoiceMode.Required, null);

    /// <summary>The reply must call the tool of this name.</summary>
    public static ToolChoice Function(string name) =>
        new(ToolChoiceMode.Function, string.IsNullOrEmpty(name) ? throw new ArgumentException("a tool choice needs a function name") : name);

    public ToolChoiceMode Mode { get; }

    /// <summary>The tool to call; set exactly when <see cref="Mode"/> is <see cref="ToolChoiceMode.Function"/>.</summary>
    public string? FunctionName { get; }

    /// <summary>True when the reply must be a tool call (Required or Function).</summary>
    public bool ForcesCall => Mode is ToolChoiceMode.Required or ToolChoiceMode.Function;
}
