using System.Text.Json;

namespace Substrate.Cli.Tests;

/// <summary><c>substrate tokenizer template</c>: exactly the rendered text on stdout, one error line when it can't.</summary>
public class TemplateVerbTests
{
    private const string ChatMl =
        "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}"
        + "{% if tools %}{{ tools | tojson }}{% endif %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private static string Folder(string? template)
    {
        string dir = Directory.CreateTempSubdirectory("substrate-template-verb-").FullName;
        var config = new Dictionary<string, object?> { ["eos_token"] = "<|im_end|>" };
        if (template is not null) config["chat_template"] = template;
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), JsonSerializer.Serialize(config));
        File.WriteAllText(Path.Combine(dir, "messages.json"),
            """{"messages": [{"role": "user", "content": "Grüße 😀"}], "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}""");
        return dir;
    }

    [Fact]
    public void Prints_exactly_the_rendered_text()
    {
        string dir = Folder(ChatMl);
        var result = SubstrateProcess.Run("tokenizer", "template", "--tokenizer", dir, "--messages", Path.Combine(dir, "messages.json"),
            "--add-generation-prompt");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal("<|im_start|>user\nGrüße 😀<|im_end|>\n[{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {}}}]"
            + "<|im_start|>assistant\n", result.Stdout);
        Assert.Equal("", result.Stderr);
        var without = SubstrateProcess.Run("tokenizer", "template", "--tokenizer", dir, "--messages", Path.Combine(dir, "messages.json"));
        Assert.EndsWith("}}]", without.Stdout);
    }

    [Theory]
    [InlineData("no chat_template", null)]
    [InlineData("unsupported tag", "{% filter upper %}x{% endfilter %}")]
    [InlineData("raise_exception", "{{ raise_exception('no tools here') }}")]
    [InlineData("unknown filter", "{{ messages | frobnicate }}")]
    public void A_template_that_cannot_run_is_one_error_line(string why, string? template)
    {
        string dir = Folder(template);
        var result = SubstrateProcess.Run("tokenizer", "template", "--tokenizer", dir, "--messages", Path.Combine(dir, "messages.json"));
        Assert.True(result.ExitCode == 1, $"{why}: exit {result.ExitCode}, {result.Stderr}");
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1 && lines[0].StartsWith("error: ") && lines[0].Contains("tokenizer_config.json"), $"{why}:\n{result.Stderr}");
        Assert.Equal("", result.Stdout);
    }
}
