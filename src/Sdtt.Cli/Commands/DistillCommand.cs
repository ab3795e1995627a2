using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.Distillation;
using Sdtt.Distributed;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Training;
using Spectre.Console;
using TorchSharp;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt distill --teacher DIR --data DIR --out DIR [--loss kld|kl-fwd|mse|tvd|tv] [--rounds N]
/// [--steps-per-round R] [--teacher-steps N0] [--k 2] [--grid intended|coded] [--config NAME|FILE] [--set key=value ...]
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
            { teacher, data, outDir, loss, rounds, stepsPerRound, teacherSteps, k, grid, config, sets, resume, resumeFrom, allowDataChange, device, threads, judge, evalSamples, print };
        cmd.SetGuardedAction(parse => RankScope.Run(world =>
        {
            var setList = new List<string>(parse.GetValue(sets) ?? Array.Empty<string>());
            if (parse.GetValue(loss) is { } l) { Divergence.Parse(l); setList.Add($"sdtt.loss={l}"); }
            if (parse.GetValue(grid) is { } g) { TeacherTimeGrid.Parse(g); setList.Add($"sdtt.grid={g}"); }
            if (parse.GetValue(rounds) is { } r) setList.Add($"rounds.max_rounds={r}");
            if (parse.GetValue(stepsPerRound) is { } spr) setList.Add($"rounds.steps_per_round={spr}");
            if (parse.GetValue(teacherSteps) is { } ts) setList.Add($"rounds.teacher_steps={ts}");
            if (parse.GetValue(k) is { } kk) setList.Add($"rounds.k={kk}");
            var outPath = parse.GetValue(outDir);
            string? from = parse.GetValue(resumeFrom);
            bool isResume = parse.GetValue(resume) || from is not null;
            string? cfgName = parse.GetValue(config);
            if (parse.GetValue(print))
            {
                Console.WriteLine(DistillConfig.Load(cfgName ?? "paper", setList).ToJson().ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            if (outPath is null) throw new SdttException("--out DIR is required");
            // Everything is checked before anything is written, so a rejected run leaves no folder behind.
            OutputPath.RequireFolder(outPath);
            string? teacherDir = parse.GetValue(teacher), dataDir = parse.GetValue(data);
            var state = RunFolder.Inspect(outPath, DistillationRun.ResolvedConfigFile);
            if (state is RunFolderState.Foreign || (state is RunFolderState.Resumable && !isResume) || (state is RunFolderState.Empty && isResume)
                || (state is RunFolderState.Unstarted && from is not null && from.Trim() != "0"))
                RunFolder.Prepare(outPath, DistillationRun.ResolvedConfigFile, isResume, from, "distill", _ => { }); // throws the matching one-line error
            if (isResume)
            {
                var (runTeacher, runData) = DistillationRun.ReadInputs(outPath);
                teacherDir ??= runTeacher;
                dataDir ??= runData;
                cfgName ??= Path.Combine(outPath, DistillationRun.ResolvedConfigFile);
            }
            if (teacherDir is null) throw new SdttException("--teacher DIR is required (a diffusion model folder, e.g. from `sdtt train`)");
            if (dataDir is null) throw new SdttException("--data DIR is required (a folder written by `sdtt prepare`)");

            DistillConfig.Load(cfgName ?? "tiny", setList); // checks the config and every --set before any work
            TorchRuntime.EnsureLoaded();
            var modelCfg = ModelFolder.ReadDitConfig(teacherDir);
            using var train = TokenDataset.Open(dataDir, "train");
            using var valid = TokenDataset.Open(dataDir, "valid");
            DistillationRun.CheckVocabulary(train, modelCfg.VocabSize);
            var plan = cfgName is null
                ? DistillDefaults.Choose(modelCfg, train.SeqLen, TorchRuntime.ResolveDevice(parse.GetValue(device) ?? "auto"), CpuInfo.Current)
                : null;
            var cfg = DistillConfig.Load(cfgName ?? plan!.Preset, setList);
            if (plan is not null && cfg.Trainer.Bf16 && !plan.Bf16) cfg = cfg with { Trainer = cfg.Trainer with { Bf16 = false } };
            var opt = cfg.Trainer;
            if (parse.GetValue(device) is { } dev) opt = opt with { Device = dev };
            if (parse.GetValue(threads) is { } th) opt = opt with { Threads = th };
            opt = opt with { Threads = RankScope.ThreadsPerRank(world, opt.Threads) };
            if (opt.Threads > 0) torch.set_num_threads(opt.Threads);
            var torchDevice = TorchRuntime.ResolveDevice(opt.Device);
            opt = opt with { Device = torchDevice.ToString() };
            cfg = cfg with { Trainer = opt.Validate() };
            if (plan is not null) Console.Error.WriteLine($"distill: no --config: {plan.Reason}");
            else if (opt.Bf16 && torchDevice.type == DeviceType.CPU && !CpuInfo.Current.HasNativeBf16)
                Console.Error.WriteLine($"distill: note: bf16 is on but this CPU ({CpuInfo.Current.ModelName}) has no native bf16, so it is emulated and slower than fp32; consider --set trainer.bf16=false");
            DataParallelPlan.For(world, opt.GlobalBatch, opt.MicroBatch);
            // Load (and so check) the teacher and the judge before the run folder is touched; only rank 0 judges the rounds.
            var student = ModelFolder.LoadDit(teacherDir, torchDevice);
            var teacherModel = ModelFolder.LoadDit(teacherDir, torchDevice);
            var evaluator = world.IsRoot() && parse.GetValue(judge) is { } judgeDir ? RoundJudge.Create(judgeDir, parse.GetValue(evalSamples), train.SeqLen, torchDevice, opt.Seed) : null;
            world.Barrier(); // every rank has checked the run folder before rank 0 writes into it
            // Rank 0 prepares the folder (clearing an unstarted run's files); the others take the same decision from the
            // state they inspected (every refusal was raised above, on all ranks alike).
            isResume = world.IsRoot()
                ? RunFolder.Prepare(outPath, DistillationRun.ResolvedConfigFile, isResume, from, "distill", m => Console.Error.WriteLine($"note: {m}"))
                : state is RunFolderState.Resumable;
            Directory.CreateDirectory(outPath);
            var run = new DistillationRun(outPath, cfg.Rounds, cfg.Sdtt.Loss);
            if (world.IsRoot()) run.WriteStart(cfg, teacherDir, dataDir);

            teacherModel.Precision = opt.Bf16 ? ModelPrecision.BFloat16 : ModelPrecision.Float32;
            using var objective = new SdttObjective(student, teacherModel, cfg.Rounds, cfg.Sdtt, run.RoundsDir, ownsModels: true);
            var divName = Divergence.Name(cfg.Sdtt.Loss);
            objective.RoundFinished = (info, _) =>
            {
                var judged = evaluator?.Invoke(info);
                var warning = run.RecordRound(info, judged);
                string extra = judged is null ? "" : ", " + string.Join(", ", judged.Select(kv => $"{kv.Key} {kv.Value.ToString("G5", CultureInfo.InvariantCulture)}"));
                Console.Error.WriteLine($"distill: round {info.Round} done at step {info.GlobalStep}: student for {info.StudentSteps} steps saved to {info.Dir}{extra}");
                if (warning is not null) Console.Error.WriteLine($"distill: warning: {warning}");
            };
            Console.Error.WriteLine($"distill: {modelCfg.ParameterCount:N0} parameters, {cfg.Rounds.Rounds} rounds × {cfg.Rounds.StepsPerRound:N0} steps " +
                $"(teacher {cfg.Rounds.TeacherSteps} → student {cfg.Rounds.StudentStepsAt(cfg.Rounds.Rounds - 1)} steps), k {cfg.Rounds.K}, " +
                $"{divName} loss, {TeacherTimeGrid.Name(cfg.Sdtt.Grid)} grid, global batch {opt.GlobalBatch} ({(world.Size > 1 ? $"{world.Size} ranks × " : "")}{opt.Accumulation / world.Size}×{opt.MicroBatch}), " +
                $"lr {opt.Lr:G3} (warm-up {opt.WarmupSteps}), EMA {opt.EmaDecay}, {(opt.Bf16 ? "bf16" : "fp32")} on {torchDevice}");
            Console.Error.WriteLine($"distill: {DistillDefaults.Eta(cfg, modelCfg, train.SeqLen, torchDevice, opt.MaxSteps)}");

            var trainer = (IProgress<TrainingProgress> p) => new Trainer(objective, opt, train, valid, outPath, world.IsRoot() ? p : null)
            {
                Plot = false, Communicator = world, ResumeFrom = isResume ? from : null, AllowDataChange = parse.GetValue(allowDataChange),
            };
            TrainingResult result;
            try
            {
                result = CliRunner.Interactive && world.Size == 1
                    ? RunInteractive(trainer, objective, opt, isResume)
                    : trainer(new PlainProgress(opt.LogEvery, objective)).Run(isResume);
            }
            catch (TrainingDivergedException e)
            {
                throw Recovery.Explain(e, "distill", "--out", outPath);
            }
            if (!world.IsRoot()) return 0;
            objective.FinishFinalRound(result.FinalStep);
            if (run.TryPlot() is { } plotWarning) Console.Error.WriteLine($"distill: warning: {plotWarning}");
            Console.Error.WriteLine($"distill: done at step {result.FinalStep}, {result.TokensPerSecond:N0} tokens/s; rounds in {run.RoundsDir}, plot {Path.Combine(outPath, DistillationRun.PlotFile)}");
            foreach (var d in run.RoundFolders()) Console.WriteLine(d);
            return 0;
        }));
        return cmd;
    }

    private static string Line(TrainingProgress p, SdttObjective o) =>
        $"round {o.Round + 1}/{o.Schedule.Rounds} (student {o.Schedule.StudentStepsAt(o.Round)} steps) step {p.Step}/{p.MaxSteps} " +
        $"loss {p.Loss:F4} lr {p.LearningRate:G3} {p.TokensPerSecond:N0} tok/s" + (p.Eta is { } e ? $" ETA {Durations.Format(e)}" : "");

    private static TrainingResult RunInteractive(Func<IProgress<TrainingProgress>, Trainer> make, SdttObjective objective, TrainerOptions opt, bool resume) =>
        TrainingProgressBar.Run(opt.MaxSteps, p => Line(p, objective), progress => make(progress).Run(resume));

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
