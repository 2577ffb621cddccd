using System.Diagnostics;

namespace Substrate.Cli.Tests;

/// <summary>Runs the built <c>substrate</c> command as a separate process, as a user would.</summary>
public static class SubstrateProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    static string Dll => Path.Combine(AppContext.BaseDirectory, "substrate.dll");

    public static Result Run(params string[] args) => RunWithInput(null, args);

    /// <summary>Runs <c>substrate verb args…</c> (the verb words first).</summary>
    public static Result Run(string[] args, params string[] verb) => Run([.. verb, .. args]);

    /// <summary>Starts <c>substrate verb args…</c> without waiting, its output discarded.</summary>
    public static Process Start(string[] args, params string[] verb)
    {
        var start = StartInfo([.. verb, .. args]);
        start.RedirectStandardOutput = start.RedirectStandardError = start.RedirectStandardInput = false;
        return Process.Start(start)!;
    }

    static ProcessStartInfo StartInfo(string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        start.ArgumentList.Add(Dll);
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment["SUBSTRATE_DEBUG"] = "1";
        return start;
    }

    public static Result RunWithInput(string? stdin, params string[] args)
    {
        using var process = Process.Start(StartInfo(args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null) process.StandardInput.Write(stdin);
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"substrate {string.Join(' ', args)} did not finish in 5 minutes");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The repository's bundled corpus folder.</summary>
    public static string CorpusFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Substrate.slnx"))) return Path.Combine(dir.FullName, "data", "corpus");
        throw new DirectoryNotFoundException("repository root not found above the test assembly");
    }
}
