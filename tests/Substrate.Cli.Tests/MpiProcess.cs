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

    /// <summary>
    /// Starts a 2-rank job, waits (up to 2 minutes) until <paramref name="ready"/>, kills its last rank with SIGKILL (no chance to say
    /// goodbye) and asserts what must follow: the job ends within 60 s (no hang) with a non-zero exit and Open MPI's word on which rank
    /// died, and no rank outlives it by 30 s.
    /// </summary>
    public static void KillARankOnceReady(ProcessStartInfo start, Func<bool> ready)
    {
        using var job = Process.Start(start)!;
        var stderr = job.StandardError.ReadToEndAsync();
        var stdout = job.StandardOutput.ReadToEndAsync();
        var deadline = Stopwatch.StartNew();
        while (!ready() && !job.HasExited && deadline.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(100);
        Assert.False(job.HasExited, "the job ended before it was ready to be killed");
        var ranks = Children(job.Id).Where(pid => File.ReadAllText($"/proc/{pid}/cmdline").Contains("substrate.dll")).ToArray();
        if (ranks.Length != 2) job.Kill(entireProcessTree: true);
        Assert.Equal(2, ranks.Length);
        Process.GetProcessById(ranks[^1]).Kill();

        bool ended = job.WaitForExit(TimeSpan.FromSeconds(60));
        if (!ended) job.Kill(entireProcessTree: true);
        Assert.True(ended, "the job did not end within 60 s of a rank being killed (a hang)");
        Assert.NotEqual(0, job.ExitCode);
        Assert.Matches("exited on signal 9|killed", stderr.Result + stdout.Result);
        // No rank is left behind: mpirun has signalled the other one, which may take a moment to end on a loaded machine.
        var grace = Stopwatch.StartNew();
        while (ranks.Any(Alive) && grace.Elapsed < TimeSpan.FromSeconds(30)) Thread.Sleep(200);
        Assert.False(ranks.Any(Alive), "a rank outlived the job by 30 s");
    }

    static bool Alive(int pid)
    {
        try { return !File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1].StartsWith('Z'); } // a zombie has ended
        catch (IOException) { return false; }
    }

    static int ParentOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat"); // "pid (comm) state ppid …"; comm may hold spaces
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
    }
}
