using System.Diagnostics;

namespace Sdtt.Tests;

/// <summary>Runs a child process with a hard time limit: both streams are read concurrently (a full pipe cannot stall
/// it) and a process that outlives the limit is killed with its children, failing the test instead of hanging the suite.</summary>
public static class ChildProcess
{
    /// <summary>Starts <paramref name="psi"/> (its streams must be redirected) and returns exit code, stdout and stderr.</summary>
    public static (int Code, string Out, string Err) Run(ProcessStartInfo psi, TimeSpan timeout)
    {
        psi.UseShellExecute = false;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
            throw new TimeoutException($"{psi.FileName} {string.Join(' ', psi.ArgumentList)} did not exit within {timeout.TotalSeconds:0} s");
        }
        p.WaitForExit(); // flushes the asynchronous readers
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs the <c>sdtt</c> CLI next to the test assembly as a child process (CI=1: plain progress lines).</summary>
    public static (int Code, string Out, string Err) Sdtt(TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Sdtt.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["CI"] = "1";
        return Run(psi, timeout);
    }
}
