using Substrate.Tokenizers.ChatTemplates;

namespace Substrate.Tokenizers.Tests;

/// <summary>The families' tool-call syntaxes read back into calls; anything malformed is content (null).</summary>
public class ToolCallSyntaxTests
{
    private static readonly ToolDefinition[] Tools = [new("get_weather", null, null), new("get_time", null, null)];

    [Theory]
    [InlineData("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", "get_weather={\"city\": \"Paris\"}")]
    [InlineData("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
        "get_weather={\"city\": \"Paris\"};get_time={}")]
    [InlineData("<think>\nweather first\n</think>\n\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": \"UTC\"}}", "get_time={\"zone\": \"UTC\"}")]
    [InlineData("[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}, {\"name\": \"get_time\", \"arguments\": {}}]",
        "get_weather={\"city\": \"Oslo\"};get_time={}")]
    [InlineData("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}", "get_weather={\"city\": \"Rome\"}")]
    [InlineData("<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}; {\"name\": \"get_time\", \"parameters\": {}}",
        "get_weather={\"city\": \"Rome\"};get_time={}")]
    [InlineData("  {\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}  ", "get_time={\"zone\": \"CET\"}")]
    [InlineData("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris; France\"}}", "get_weather={\"city\": \"Paris; France\"}")]
    [InlineData("{\"name\": \"get_time\", \"arguments\": \"{\\\"zone\\\": \\\"CET\\\"}\"}", "get_time={\"zone\": \"CET\"}")]
    public void Reads_each_family_syntax(string output, string expected)
    {
        var calls = ToolCallSyntax.Parse(output, Tools);
        Assert.NotNull(calls);
        Assert.Equal(expected, string.Join(";", calls.Select(c => $"{c.Name}={c.Arguments}")));
        Assert.All(calls, c => Assert.StartsWith("call_", c.Id));
        Assert.Equal(calls.Count, calls.Select(c => c.Id).Distinct().Count());
    }

    [Theory]
    [InlineData("The weather is fine.")]
    [InlineData("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"\n</tool_call>")]
    [InlineData("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call><tool_call>not json</tool_call>")]
    [InlineData("<tool_call>\n{\"name\": \"launch_rockets\", \"arguments\": {}}\n</tool_call>")]
    [InlineData("[TOOL_CALLS]{\"name\": \"get_weather\"")]
    [InlineData("{\"name\": \"get_weather\", \"arguments\": [1, 2]}")]
    [InlineData("{\"city\": \"Paris\"}")]
    [InlineData("[1, 2, 3]")]
    public void Malformed_calls_are_content(string output) => Assert.Null(ToolCallSyntax.Parse(output, Tools));
}
