using Substrate.Inference;
using Substrate.Server.Wire;

namespace Substrate.Server.Tests;

public class FinishReasonWireTests
{
    [Theory]
    [InlineData(FinishReason.Eos, "stop")]
    [InlineData(FinishReason.Stop, "stop")]
    [InlineData(FinishReason.MaxTokens, "length")]
    [InlineData(FinishReason.Context, "length")]
    [InlineData(FinishReason.ToolCalls, "tool_calls")]
    public void Every_finish_reason_has_its_openai_string(FinishReason reason, string wire) => Assert.Equal(wire, reason.ToWire());
}
