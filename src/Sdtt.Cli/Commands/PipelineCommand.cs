using System.CommandLine;
using Sdtt.Distributed;
using Sdtt.Evaluation;
using Sdtt.Training;
using Sdtt.Workflows;
using Spectre.Console;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt pipeline</c>: the paper's method end to end on a text folder (<see cref="PipelineRun"/>): prepare →
/// MDLM pre-training → AR judge → SDTT distillation (with a per-round judge evaluation) → samples from teacher and
/// students → evaluation table and plot. Each stage prints the <c>sdtt</c> command that re-runs it alone.</summary>
internal static class PipelineCommand
{
    public static Command Create()
    {
        var input = new Option<string>("--input") { Description = "Folder of .txt/.jsonl files", DefaultValueFactory = _ => "data/sotu" };
        var output = new Option<string>("--out") { Description = "Run folder; finished stages found there are skipped", DefaultValueFactory = _ => "runs/pipeline" };
        var preset = new Option<string>("--preset") { Description = "tiny (seconds, for CI), demo (minutes, the default) or quality (≈ 1 hour on 2 cores; docs/results.md)", DefaultValueFactory = _ => "demo" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "cpu" };
        var force = new Option<bool>("--force") { Description = "Re-run every stage (deletes nothing else in --out)" };
        var sets = new Option<string[]>("--preset-set") { Description = "Override a preset size: name=value (config=tiny|demo, train_steps, ar_steps, ar_baseline_steps, teacher_steps, rounds, steps_per_round, eval_samples, max_samples, pilot_samples, task_limit, draws, seq_len); repeatable" };
        var sampler = SamplerOptions.Sampler();
        var cmd = new Command("pipeline", "Run prepare → train → distill → sample → eval on a text folder with shipped defaults") { input, output, preset, device, force, sets, sampler };
        cmd.SetGuardedAction(parse =>
        {
            var p = PipelinePreset.Named(parse.GetValue(preset)!).Override(parse.GetValue(sets) ?? Array.Empty<string>());
            var outDir = parse.GetValue(output)!;
            var options = new PipelineOptions(parse.GetValue(input)!, outDir, p, parse.GetValue(device)!, parse.GetValue(force),
                SamplerOptions.Resolve(parse.GetValue(sampler)), TaskDataDir: Path.GetFullPath("data"));
            var result = PipelineRun.Run(options, new ConsoleHost());
            AnsiConsole.MarkupLine($"[green]pipeline finished[/] in {Durations.Format(result.Elapsed)}; results in [bold]{Markup.Escape(outDir)}[/] " +
                                   $"(eval/comparison.md, eval/genppl_vs_steps.png, samples/*.jsonl, mdlm/loss.png, sdtt/distill.png); " +
                                   $"summarise with: sdtt eval results --run {Markup.Escape(outDir)} --out docs/results.md");
            return 0;
        });
        return cmd;
    }

    /// <summary>Stage headers in colour, training with the train/distill commands' progress display, evaluation with
    /// eval's.</summary>
    private sealed class ConsoleHost : IPipelineHost
    {
        public void StageStarting(PipelineStage stage)
        {
            AnsiConsole.MarkupLine($"[bold blue]stage {stage.Number}: {Markup.Escape(stage.Title)}[/]");
            if (stage.ResumeNote is not null) AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(stage.ResumeNote)}[/]");
            AnsiConsole.MarkupLine($"[grey]$ {Markup.Escape(stage.CommandLine)}[/]");
        }

        public void StageSkipped(PipelineStage stage, string marker) =>
            AnsiConsole.MarkupLine($"[grey]stage {stage.Number}: {Markup.Escape(stage.Title)} — already done ({Markup.Escape(marker)}), skipped[/]");

        public void StageFinished(PipelineStage stage, TimeSpan elapsed) => AnsiConsole.MarkupLine($"[grey]stage {stage.Number} done in {elapsed.TotalSeconds:F1} s[/]");

        public void Note(string line) => Console.Error.WriteLine(line);

        public TrainingResult Train(TrainingJob job)
        {
            Console.Error.WriteLine($"train: {job.Summary}");
            return TrainCommand.Run(job, SingleProcessCommunicator.Instance, job.Options.OutDir, job.Options.DataDir);
        }

        public DistillationJobResult Distill(DistillationJob job)
        {
            job.Log = m => Console.Error.WriteLine($"distill: {m}");
            Console.Error.WriteLine($"distill: {job.Summary}");
            return DistillCommand.Run(job, SingleProcessCommunicator.Instance, job.Options.OutDir);
        }

        public EvalReport Evaluate(Func<Func<string, long, Action<int>>?, EvalReport> evaluation) => EvalProgress.Run(evaluation);
    }
}
