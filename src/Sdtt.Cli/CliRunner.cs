using System.CommandLine;
using Spectre.Console;

namespace Sdtt.Cli;

/// <summary>Runs the parsed command; user errors become one line on stderr and exit code 1, never a stack trace.</summary>
public static class CliRunner
{
    public static int Run(RootCommand root, string[] args)
    {
        try
        {
            var parse = root.Parse(args);
            return parse.Invoke();
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>Prints the error as one line and returns the exit code.</summary>
    public static int Fail(Exception e)
    {
        var inner = e;
        while (inner is not SdttException && inner.InnerException is not null) inner = inner.InnerException;
        if (inner is SdttException se)
        {
            Console.Error.WriteLine($"error: {se.Message}");
            return 1;
        }
        if (inner is OperationCanceledException)
        {
            Console.Error.WriteLine("error: cancelled");
            return 130;
        }
        if (inner is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {inner.Message}");
            return 1;
        }
        Console.Error.WriteLine($"error: unexpected {inner.GetType().Name}: {inner.Message.Split('\n')[0]} (set SDTT_DEBUG=1 for the stack trace)");
        if (Environment.GetEnvironmentVariable("SDTT_DEBUG") == "1") Console.Error.WriteLine(e);
        return 2;
    }

    /// <summary>Wraps a command body so exceptions become clear one-line errors.</summary>
    public static void SetGuardedAction(this Command command, Func<ParseResult, int> body) =>
        command.SetAction(parse =>
        {
            try { return body(parse); }
            catch (Exception e) { return Fail(e); }
        });

    /// <summary>Whether progress bars should be drawn (a terminal, not CI logs).</summary>
    public static bool Interactive => !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("CI") is null;
}
