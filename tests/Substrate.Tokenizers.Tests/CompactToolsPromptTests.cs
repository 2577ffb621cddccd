using Substrate.Tokenizers.ChatTemplates;
using Substrate.Tokenizers.Training;

namespace Substrate.Tokenizers.Tests;

/// <summary>How tools are described to a model whose template does not take them: one line a tool in the transcript of
/// Substrate's own models, the full JSON schemas under a template.</summary>
public class CompactToolsPromptTests
{
    private static readonly ByteLevelBpeTokenizer Tokenizer = BpeTrainer.Train(["a b c"], new BpeTrainerOptions { VocabSize = 300, MinFrequency = 1 });

    private static readonly ToolDefinition[] Tools =
    [
        new("calculator", "Evaluates an arithmetic expression.", """{"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}"""),
        new("search", "Searches.", """{"type": "object", "properties": {"query": {"type": "string"}, "top": {"type": "integer"}}}"""),
        new("current_time", null, null),
        new("broken", "Its schema is not JSON.", "{not json"),
    ];

    [Fact]
    public void The_transcript_lists_each_tool_with_its_argument_names_on_one_line()
    {
        var format = new ChatFormat(Tokenizer, TokenizerConfig.Empty);
        string rendered = format.Render([new ChatMessage("user", "What is 2 + 3?")], addGenerationPrompt: true, Tools);
        Assert.Equal(
            "Tools (to call one, reply with only {\"name\": tool, \"arguments\": {argument: value}}):\n"
            + "calculator(expression)\nsearch(query, top)\ncurrent_time()\nbroken()\n\nUser: What is 2 + 3?\nAssistant:",
            rendered);
        Assert.Equal(ChatFormat.CompactToolsPrompt(Tools), format.ToolsDescription(Tools));
        Assert.DoesNotContain("Evaluates", rendered);
    }

    [Fact]
    public void A_template_without_tools_gets_the_full_json_schemas()
    {
        var format = new ChatFormat(Tokenizer, TokenizerConfig.Empty with { ChatTemplate = "{% for m in messages %}[{{ m.content }}]{% endfor %}" });
        string rendered = format.Render([new ChatMessage("user", "Hi")], addGenerationPrompt: true, Tools[..1]);
        Assert.Equal($"[{ChatFormat.ToolsPrompt(Tools[..1])}][Hi]", rendered);
        Assert.Contains("\"required\": [\"expression\"]", rendered);
    }
}
