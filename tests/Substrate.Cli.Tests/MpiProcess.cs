using System.Diagnostics;

namespace Substrate.Cli.Tests;

/// <summary>
/// Runs the built <c>substrate</c> command under <c>mpirun</c> through <c>scripts/mpirun-local.sh</c>, the one place the
/// launcher's settings live (oversubscription, shared-memory transport, running as root in CI).
/// </summary>
public static class MpiProcess
{
    /// <summary>Why the MPI tests skip on this machine, or null when mpirun is installed.</summary>
    public static string? Missing { get; } = Environment.GetEnvironmentVariable("PATH")!.Split(':')
        .Any(dir => File.Exists(Path.Combine(dir, "mpirun"))) ? null : "mpirun is not installed (scripts/setup.sh installs Open MPI)";

    static string Script => Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(SubstrateProcess.CorpusFolder()))!, "scripts", "mpirun-local.sh");
    static string Dll => Path.Combine(AppContext.BaseDirectory, "substrate.dll");

    /// <summary><c>mpirun -np ranks … substrate args…</c>; <paramref name="launcher"/> holds extra mpirun flags (--hostfile …).</summary>
    public static ProcessStartInfo StartInfo(int ranks, string[] args, params string[] launcher)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in (string[])[Script, "-np", ranks.ToString(), .. launcher, "dotnet", Dll, .. args]) start.ArgumentList.Add(arg);
        return start;
    }

    /// <summary>Several programs in one job (MPI's MPMD form, <c>-np 1 a : -np 1 b</c>): rank r runs <paramref name="perRank"/>[r].</summary>
    public static ProcessStartInfo StartInfoPerRank(params string[][] perRank)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Script);
        for (int r = 0; r < perRank.Length; r++)
        {
            if (r > 0) start.ArgumentList.Add(":");
            foreach (var arg in (string[])["-np", "1", "dotnet", Dll, .. perRank[r]]) start.ArgumentList.Add(arg);
        }
        return start;
    }

    public static SubstrateProcess.Result Run(ProcessStartInfo start, TimeSpan? timeout = null)
    {
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"mpirun {string.Join(' ', start.ArgumentList)} did not finish in time (a hang)");
        }
        return new SubstrateProcess.Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The processes <paramref name="parent"/> started (Linux: from /proc).</summary>
    public static int[] Children(int parent) =>
        Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => int.TryParse(n, out _)).Select(int.Parse!)
            .Where(pid =>
            {
                try { return ParentOf(pid) == parent; }
                catch (IOException) { return false; } // it ended meanwhile
            })
            .ToArray();

    static int ParentOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat"); // "pid (comm) state ppid …"; comm may hold spaces
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
    }
}
