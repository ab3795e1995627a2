using Spectre.Console;

namespace Sdtt.Cli.Commands;

/// <summary>Progress for long evaluation stages: Spectre progress bars on a terminal, else a plain line on stderr every few
/// seconds with the rate and ETA.</summary>
internal static class EvalProgress
{
    /// <summary>Runs <paramref name="work"/> with a progress factory (label, total) → tick.</summary>
    public static T Run<T>(Func<Func<string, long, Action<int>>, T> work)
    {
        if (CliRunner.Interactive)
        {
            T result = default!;
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new EtaColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    result = work((label, total) =>
                    {
                        var task = ctx.AddTask(Markup.Escape(label), maxValue: Math.Max(1, total));
                        return n => task.Increment(n);
                    });
                });
            return result;
        }
        return work(Plain);
    }

    static Action<int> Plain(string label, long total)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        long done = 0;
        double lastPrint = 0;
        return n =>
        {
            done += n;
            double s = sw.Elapsed.TotalSeconds;
            if (s - lastPrint < 5 && done < total) return;
            lastPrint = s;
            double rate = done / Math.Max(1e-9, s);
            double eta = rate > 0 ? (total - done) / rate : 0;
            Console.Error.WriteLine($"{label}: {done}/{total} ({rate:F2}/s, ETA {TimeSpan.FromSeconds(Math.Round(eta)):g})");
        };
    }
}
