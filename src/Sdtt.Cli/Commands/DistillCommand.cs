using System.CommandLine;
using Sdtt.Distillation;
using Sdtt.Distributed;
using Sdtt.Training;
using Sdtt.Workflows;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt distill --teacher DIR --data DIR --out DIR [--loss kld|kl-fwd|mse|tvd|tv] [--rounds N]
/// [--steps-per-round R] [--teacher-steps N0] [--k 2] [--grid intended|coded] [--rollout reveal-first|reference] [--config NAME|FILE] [--set key=value ...]
/// [--resume] [--device D] [--judge DIR] [--eval-samples N]</c>: multi-round SDTT on the shared trainer. Writes
/// OUT/rounds/round-{n}-steps-{student steps}/{ema,raw}/ after every round, OUT/model (final EMA student), metrics.jsonl,
/// distill.png (loss with round boundaries), distill_config.json and checkpoints/.</summary>
internal static class DistillCommand
{
    public static Command Create()
    {
        var teacher = new Option<string?>("--teacher") { Description = "The teacher model folder (config.json + model.safetensors); the student starts as its copy" };
        var data = new Option<string?>("--data") { Description = "A prepared token folder (sdtt prepare)" };
        var outDir = new Option<string?>("--out") { Description = "Run folder (empty or absent unless --resume)" };
        var loss = new Option<string?>("--loss") { Description = "Divergence: kld (reverse KL, default), kl-fwd, mse, tvd (both on log-probs, as the reference codes them), tv" };
        var rounds = new Option<int?>("--rounds") { Description = "Most rounds (default 7); distillation also stops before the student step count falls below rounds.min_student_steps (8)" };
        var stepsPerRound = new Option<long?>("--steps-per-round") { Description = "Optimizer steps per round (default 10000)" };
        var teacherSteps = new Option<int?>("--teacher-steps") { Description = "N0, the round-1 teacher's step count (default 1024)" };
        var k = new Option<int?>("--k") { Description = "Teacher sub-steps per student step (default 2)" };
        var rollout = new Option<string?>("--rollout") { Description = "Teacher rollout: reveal-first (default; same targets' distribution, output layer only where needed) or reference (the exponential race)" };
        var grid = new Option<string?>("--grid") { Description = "Teacher time grid: intended (the paper's t, t − dt; default) or coded (the released code's)" };
        var config = new Option<string?>("--config") { Description = $"A shipped config ({string.Join(", ", DistillConfig.PresetNames)}) or a JSON file; default: paper on a GPU or a fast CPU, demo on other CPUs" };
        var sets = new Option<string[]>("--set") { Description = "Override a field: key=value (trainer.lr=1e-4, rounds.steps_per_round=50, sdtt.store_targets_bf16=true); repeatable" };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from its last checkpoint (a run stopped before its first checkpoint starts afresh)" };
        var resumeFrom = new Option<string?>("--resume-from") { Description = "Continue from this checkpoint instead: a step of the run's checkpoints (0 = restart from step 0) or a checkpoint folder; later checkpoints are discarded" };
        var allowDataChange = new Option<bool>("--allow-data-change") { Description = "On resume, accept training data whose content differs from the checkpoint's (logged)" };
        var device = new Option<string?>("--device") { Description = "cpu, cuda, cuda:N or auto (default: the config's trainer.device)" };
        var threads = new Option<int?>("--threads") { Description = "CPU threads for libtorch (0 = libtorch default)" };
        var judge = new Option<string?>("--judge") { Description = "An autoregressive judge model folder: after every round, sample with the new student at its step count and report generative perplexity and entropy" };
        var evalSamples = new Option<int>("--eval-samples") { Description = "Samples per round for the judge evaluation", DefaultValueFactory = _ => 8 };
        var print = new Option<bool>("--print-config") { Description = "Print the resolved config as JSON and exit" };
        var cmd = new Command("distill", "Self-distillation through time: distil a diffusion teacher into students that need k× fewer steps per round")
            { teacher, data, outDir, loss, rounds, stepsPerRound, teacherSteps, k, grid, rollout, config, sets, resume, resumeFrom, allowDataChange, device, threads, judge, evalSamples, print };
        cmd.SetGuardedAction(parse => RankScope.Run(world =>
        {
            var setList = new List<string>(parse.GetValue(sets) ?? Array.Empty<string>());
            if (parse.GetValue(loss) is { } l) { Divergence.Parse(l); setList.Add($"sdtt.loss={l}"); }
            if (parse.GetValue(grid) is { } g) { TeacherTimeGrid.Parse(g); setList.Add($"sdtt.grid={g}"); }
            if (parse.GetValue(rollout) is { } ro) { SdttOptions.ParseRollout(ro, "--rollout"); setList.Add($"sdtt.rollout={ro}"); }
            if (parse.GetValue(rounds) is { } r) setList.Add($"rounds.max_rounds={r}");
            if (parse.GetValue(stepsPerRound) is { } spr) setList.Add($"rounds.steps_per_round={spr}");
            if (parse.GetValue(teacherSteps) is { } ts) setList.Add($"rounds.teacher_steps={ts}");
            if (parse.GetValue(k) is { } kk) setList.Add($"rounds.k={kk}");
            if (parse.GetValue(print))
            {
                Console.WriteLine(DistillConfig.Load(parse.GetValue(config) ?? "paper", setList).ToJson().ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            var outPath = parse.GetValue(outDir) ?? throw new SdttException("--out DIR is required");
            var options = new DistillationJobOptions(parse.GetValue(teacher), parse.GetValue(data), outPath, parse.GetValue(config), setList,
                parse.GetValue(resume), parse.GetValue(resumeFrom), parse.GetValue(allowDataChange), parse.GetValue(device), parse.GetValue(threads),
                parse.GetValue(judge), parse.GetValue(evalSamples));
            using var job = DistillationJob.Prepare(options, world, m => Console.Error.WriteLine($"distill: note: {m}"));
            job.Log = m => Console.Error.WriteLine($"distill: {m}");
            if (job.PlanReason is not null) Console.Error.WriteLine($"distill: no --config: {job.PlanReason}");
            Console.Error.WriteLine($"distill: {job.Summary}");
            Console.Error.WriteLine($"distill: {job.Estimate}");
            var result = Run(job, world, outPath);
            if (!world.IsRoot()) return 0;
            if (result.PlotWarning is { } plotWarning) Console.Error.WriteLine($"distill: warning: {plotWarning}");
            Console.Error.WriteLine($"distill: done at step {result.Training.FinalStep}, {result.Training.TokensPerSecond:N0} tokens/s; rounds in {job.RoundsDir}, plot {job.PlotPath}");
            foreach (var d in result.RoundFolders) Console.WriteLine(d);
            return 0;
        }));
        return cmd;
    }

    /// <summary>Runs <paramref name="job"/> with a progress bar on a terminal (plain lines otherwise); a divergence becomes the
    /// one-line recovery command.</summary>
    internal static DistillationJobResult Run(DistillationJob job, ICommunicator world, string outPath)
    {
        var opt = job.Config.Trainer;
        try
        {
            return CliRunner.Interactive && world.Size == 1
                ? TrainingProgressBar.Run(opt.MaxSteps, p => Line(p, job.Objective), progress => job.Run(progress))
                : job.Run(new PlainProgress(opt.LogEvery, job.Objective));
        }
        catch (TrainingDivergedException e)
        {
            throw Recovery.Explain(e, "distill", "--out", outPath);
        }
    }

    private static string Line(TrainingProgress p, SdttObjective o) =>
        $"round {o.Round + 1}/{o.Schedule.Rounds} (student {o.Schedule.StudentStepsAt(o.Round)} steps) step {p.Step}/{p.MaxSteps} " +
        $"loss {p.Loss:F4} lr {p.LearningRate:G3} {p.TokensPerSecond:N0} tok/s" + (p.Eta is { } e ? $" ETA {Durations.Format(e)}" : "");

    private sealed class PlainProgress(long every, SdttObjective objective) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Message is not null) Console.Error.WriteLine($"distill: {p.Message}");
            else if (p.Step > 0 && !double.IsNaN(p.Loss) && (p.Step % every == 0 || p.Step == p.MaxSteps))
                Console.Error.WriteLine($"distill: {Line(p, objective)}");
        }
    }
}
