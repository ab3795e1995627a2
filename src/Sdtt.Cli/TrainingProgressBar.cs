using Sdtt.Training;
using Spectre.Console;

namespace Sdtt.Cli;

/// <summary>The terminal progress bar shared by <c>sdtt train</c> and <c>sdtt distill</c>: messages are printed above the
/// bar, and each step's progress updates the bar and its description.</summary>
internal static class TrainingProgressBar
{
    /// <summary>Runs <paramref name="run"/> with a progress sink that draws a bar of <paramref name="maxSteps"/> steps on
    /// stderr, described by <paramref name="describe"/>.</summary>
    public static T Run<T>(long maxSteps, Func<TrainingProgress, string> describe, Func<IProgress<TrainingProgress>, T> run)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new EtaColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("starting", maxValue: maxSteps);
                var progress = new SyncProgress(p =>
                {
                    if (p.Message is not null) console.MarkupLine(Markup.Escape(p.Message));
                    if (p.Step < 0 || double.IsNaN(p.Loss)) { if (p.Step >= 0) task.Value = p.Step; return; }
                    task.Value = p.Step;
                    task.Description = Markup.Escape(describe(p));
                });
                result = run(progress);
            });
        return result;
    }

    /// <summary>Reports synchronously on the training thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SyncProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }
}
