using Sdtt.Cli;

namespace Sdtt.Tests.Reliability;

/// <summary>Runs the CLI in-process with stdout and stderr captured. Tests using it belong to the serial collection
/// (<see cref="Distillation.GlobalTorchRngCollection"/>), so no other test writes to the console meanwhile.</summary>
internal static class CliHarness
{
    private static readonly object Gate = new();

    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        lock (Gate)
        {
            Environment.SetEnvironmentVariable("CI", "1");
            var (oldOut, oldErr) = (Console.Out, Console.Error);
            // Not disposed: Spectre's AnsiConsole keeps the writer it first saw.
            var o = new StringWriter();
            var e = new StringWriter();
            Console.SetOut(o);
            Console.SetError(e);
            int code;
            try { code = (int)typeof(CliRunner).Assembly.EntryPoint!.Invoke(null, new object[] { args })!; }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
            }
            return (code, o.ToString(), e.ToString());
        }
    }

    /// <summary>Asserts a rejected command: exit 1, one <c>error:</c> line (the last), no stack trace.</summary>
    public static string AssertOneLineError((int Code, string Out, string Err) r, string fragment)
    {
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(r.Code == 1, $"exit {r.Code}, stderr: {r.Err}");
        Assert.NotEmpty(lines);
        Assert.StartsWith("error: ", lines[^1]);
        Assert.Single(lines, l => l.StartsWith("error:"));
        Assert.DoesNotContain("   at ", r.Err);
        Assert.Contains(fragment, lines[^1]);
        return lines[^1];
    }
}
