using System.Diagnostics;
using System.Text.Json;

namespace Substrate.Tokenizers.Tests.References;

/// <summary>Runs reference-tokenizer.cjs under node: one process per batch of strings.</summary>
public static class NodeReference
{
    private static readonly Lazy<string?> NodeMissing = new(() =>
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("node", ["--version"]) { RedirectStandardOutput = true })!;
            p.WaitForExit();
            return p.ExitCode == 0 ? null : "node --version failed";
        }
        catch (Exception e)
        {
            return $"node is not available: {e.Message}";
        }
    });

    /// <summary>Null when the JS references can run, else why not (for Skip.If).</summary>
    public static string? Unavailable => ReferenceFiles.Directory is null ? ReferenceFiles.Reason : NodeMissing.Value;

    /// <param name="kind">llama2, llama3, json, o200k, cl100k, r50k (see the .cjs)</param>
    public static int[][] Encode(string kind, IReadOnlyList<string> texts, bool addSpecialTokens = false, params string[] files)
    {
        string driver = Path.Combine(AppContext.BaseDirectory, "References", "reference-tokenizer.cjs");
        var psi = new ProcessStartInfo("node", [driver, ReferenceFiles.Directory!, kind, .. files])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // UTF-8 without BOM; the strings travel as JSON so every code point survives.
        using (var stdin = new StreamWriter(process.StandardInput.BaseStream, new System.Text.UTF8Encoding(false)))
            stdin.Write(JsonSerializer.Serialize(new { texts, addSpecialTokens }));
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"node reference failed: {stderr.Result}");
        return JsonSerializer.Deserialize<int[][]>(stdout.Result)!;
    }
}
