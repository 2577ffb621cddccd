using System.CommandLine;

namespace Substrate.Cli;

/// <summary>The verb table of the <c>substrate</c> command; each verb lives in its own file.</summary>
public static class CommandLine
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("Substrate: pretrain, adapt, export and serve small foundation models.");
        return await root.Parse(args).InvokeAsync();
    }
}
