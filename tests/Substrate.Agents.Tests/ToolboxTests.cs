using Substrate.Agents.Mcp;

namespace Substrate.Agents.Tests;

public class ToolboxTests
{
    [Fact]
    public void Specs_split_on_commas_but_an_mcp_command_keeps_its_own()
    {
        Assert.Equal(["calc", "time", "files:/tmp/x"], Toolbox.Split("calc, time,files:/tmp/x"));
        Assert.Equal(["calc", "mcp:server --list a,b"], Toolbox.Split("calc,mcp:server --list a,b"));
    }

    [Fact]
    public void Command_lines_split_like_a_shell_without_expansion()
    {
        Assert.Equal(["node", "server.js", "--name", "my server", "a\"b", "$HOME"], CommandWords.Split("node server.js --name 'my server' a\\\"b $HOME"));
        Assert.Equal(["sh", "-c", "echo \"hi\""], CommandWords.Split("sh -c \"echo \\\"hi\\\"\""));
        Assert.Throws<ArgumentException>(() => CommandWords.Split("a 'b"));
    }

    [Fact]
    public async Task Built_in_specs_give_their_tools_and_unknown_ones_are_refused()
    {
        await using (var toolbox = await Toolbox.OpenAsync(["calc,time", $"files:{Path.GetTempPath()}"]))
            Assert.Equal(["calculator", "current_time", "read_file", "list_files"], toolbox.Tools.Select(t => t.Name));
        Assert.Contains("unknown tool 'shell'", (await Assert.ThrowsAsync<ArgumentException>(() => Toolbox.OpenAsync(["calc,shell"]))).Message);
        await Assert.ThrowsAsync<ArgumentException>(() => Toolbox.OpenAsync(["calc,calc"]));
        // A stray argument (a typo for files:…) or an empty one is refused, not silently dropped.
        foreach (var spec in new[] { "calc:/tmp", "time:UTC", "files:", "search:", "mcp:", "mcp:   " })
            await Assert.ThrowsAsync<ArgumentException>(() => Toolbox.OpenAsync([spec]));
        await Assert.ThrowsAsync<IOException>(() => Toolbox.OpenAsync(["mcp:/nonexistent/mcp-server"]));
    }
}
