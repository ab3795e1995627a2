using System.Diagnostics;

namespace Sdtt.Tests.Distributed;

/// <summary>Runs the built CLI (Sdtt.Cli.dll next to the tests) alone or under <c>mpirun</c>, with a timeout.</summary>
internal static class MpiRunner
{
    /// <summary>Path of mpirun, or null when Open MPI is not installed (CI installs it: .ci/run).</summary>
    public static string? Mpirun { get; } = new[] { "/usr/bin/mpirun", "/usr/local/bin/mpirun" }.FirstOrDefault(File.Exists)
        ?? (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    /// <summary>The reason MPI tests are skipped, or null when they run.</summary>
    public static string? SkipReason => Mpirun is null ? "mpirun not found: install Open MPI (apt-get install openmpi-bin libopenmpi-dev) to run the data-parallel tests" : null;

    /// <summary><c>sdtt ARGS</c> in one process (ranks = 0) or under <c>mpirun -np ranks</c>.</summary>
    public static (int Code, string Out, string Err) Sdtt(int ranks, params string[] args) => Run(ranks, new(), args);

    /// <summary><c>sdtt ARGS</c> in one process with extra environment variables.</summary>
    public static (int Code, string Out, string Err) SdttWithEnvironment(Dictionary<string, string> env, params string[] args) => Run(0, env, args);

    private static (int Code, string Out, string Err) Run(int ranks, Dictionary<string, string> env, string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Sdtt.Cli.dll");
        var psi = new ProcessStartInfo(ranks > 0 ? Mpirun! : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (ranks > 0)
            foreach (var a in new[] { "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader", "-np", ranks.ToString(), "dotnet" })
                psi.ArgumentList.Add(a);
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["CI"] = "1";
        // Containers often forbid the cross-memory-attach copies of Open MPI's shared-memory transport.
        psi.Environment["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none";
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new TimeoutException($"sdtt {string.Join(' ', args)} on {ranks} ranks ran past 120 s; stderr: {stderr.Result}");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
