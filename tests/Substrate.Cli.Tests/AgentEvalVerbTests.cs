using System.Text.Json;

namespace Substrate.Cli.Tests;

/// <summary><c>substrate agent eval</c> as a user runs it, over a scripted OpenAI-compatible endpoint.</summary>
public class AgentEvalVerbTests
{
    [Fact]
    public void It_scores_a_task_with_tools_and_without_and_prints_a_summary_line()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"substrate-agenteval-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var tasks = Path.Combine(dir, "t.jsonl");
            File.WriteAllText(tasks, "{\"goal\": \"What is 6 * 7?\", \"tools\": [\"calculator\"], \"answer\": \"42\", \"kind\": \"arithmetic\"}\n");
            // With tools: a call, then the answer; without: one reply, the same text (the script's last repeats).
            using var endpoint = new FakeOpenAiEndpoint("calculator({\"expression\":\"6*7\"})", "42.");
            var result = SubstrateProcess.Run("agent", "eval", "--endpoint", endpoint.Url, "--model-name", "fake", "--api-key", "k",
                "--tools", "calc", "--tasks", tasks, "--per-task");
            Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\nstdout: {result.Stdout}\nstderr: {result.Stderr}");
            var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(3, lines.Length); // two runs, then the summary
            using var summary = JsonDocument.Parse(lines[2]);
            var with = summary.RootElement.GetProperty("with_tools");
            Assert.Equal(1, with.GetProperty("success").GetDouble());
            Assert.Equal(2, with.GetProperty("steps_per_task").GetDouble());
            Assert.Equal(1, with.GetProperty("tool_calls_per_task").GetDouble());
            var without = summary.RootElement.GetProperty("without_tools");
            Assert.Equal(1, without.GetProperty("steps_per_task").GetDouble());
            Assert.Equal(0, without.GetProperty("tool_calls_per_task").GetDouble());
            Assert.Contains("agent eval: with tools    success 100.0 % (arithmetic 100 %), 2.00 steps/task, 1.00 tool calls/task", result.Stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_missing_task_file_is_one_error_line()
    {
        var result = SubstrateProcess.Run("agent", "eval", "--endpoint", "http://127.0.0.1:9/v1", "--model-name", "m", "--tasks", "/nonexistent/t.jsonl");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal("error: file not found: /nonexistent/t.jsonl", result.Stderr.Trim());
    }
}
