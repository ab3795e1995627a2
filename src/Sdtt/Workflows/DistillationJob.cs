using System.Globalization;
using Sdtt.Data;
using Sdtt.Distillation;
using Sdtt.Distributed;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Training;
using TorchSharp;

namespace Sdtt.Workflows;

/// <summary>What to distil and where: the inputs of <c>sdtt distill</c> as a record.</summary>
/// <param name="Teacher">The teacher model folder; null on resume reads the run's record.</param>
/// <param name="DataDir">A prepared token folder; null on resume reads the run's record.</param>
/// <param name="OutDir">The run folder: empty or absent unless <paramref name="Resume"/>.</param>
/// <param name="Config">A shipped config or a JSON file; null chooses one for the device (<see cref="DistillDefaults"/>), or
/// on resume reads OUT/distill_config.json.</param>
/// <param name="Sets">key=value overrides (<c>trainer.lr=1e-4</c>, <c>rounds.teacher_steps=64</c>, <c>sdtt.loss=mse</c>).</param>
/// <param name="Resume">Continue the run in <paramref name="OutDir"/> from its last checkpoint.</param>
/// <param name="ResumeFrom">Continue from this checkpoint instead (a step, 0, or a checkpoint folder).</param>
/// <param name="AllowDataChange">On resume, accept data whose content differs from the checkpoint's.</param>
/// <param name="Device">cpu, cuda, cuda:N or auto; null keeps the config's.</param>
/// <param name="Threads">libtorch threads; null keeps the config's.</param>
/// <param name="Judge">An AR judge folder: each finished round's student is sampled and scored (rank 0 only).</param>
/// <param name="EvalSamples">Samples per round for the judge.</param>
public sealed record DistillationJobOptions(string? Teacher, string? DataDir, string OutDir, string? Config = null,
    IReadOnlyList<string>? Sets = null, bool Resume = false, string? ResumeFrom = null, bool AllowDataChange = false,
    string? Device = null, int? Threads = null, string? Judge = null, int EvalSamples = 8);

/// <summary>What a distillation run left: the trainer's result and the round folders (round-n-steps-m/).</summary>
/// <param name="Training">The shared trainer's result.</param>
/// <param name="RoundFolders">Every finished round's folder, in order.</param>
/// <param name="PlotWarning">Why the loss plot could not be written, or null.</param>
public sealed record DistillationJobResult(TrainingResult Training, IReadOnlyList<string> RoundFolders, string? PlotWarning);

/// <summary>One multi-round SDTT run checked and set up: config and overrides resolved, teacher, student and judge loaded,
/// the run folder prepared, so that <see cref="Run"/> only trains. Every check happens in <see cref="Prepare"/> before
/// anything is written.</summary>
public sealed class DistillationJob : IDisposable
{
    private readonly TokenDataset _train, _valid;
    private readonly ICommunicator _world;
    private readonly DistillationRun _run;
    private readonly bool _resume;

    private DistillationJob(DistillationJobOptions options, DistillConfig config, DitConfig model, TokenDataset train, TokenDataset valid,
        SdttObjective objective, DistillationRun run, ICommunicator world, bool resume, string? planReason)
    {
        Options = options;
        Config = config;
        ModelConfig = model;
        _train = train;
        _valid = valid;
        Objective = objective;
        _run = run;
        _world = world;
        _resume = resume;
        PlanReason = planReason;
    }

    /// <summary>The inputs.</summary>
    public DistillationJobOptions Options { get; }
    /// <summary>The resolved config (written to OUT/distill_config.json).</summary>
    public DistillConfig Config { get; }
    /// <summary>The teacher's (and student's) architecture.</summary>
    public DitConfig ModelConfig { get; }
    /// <summary>The objective: its round and schedule say where the run is.</summary>
    public SdttObjective Objective { get; }
    /// <summary>Why this config was chosen when none was given, or null.</summary>
    public string? PlanReason { get; }
    /// <summary>Receives one line per finished round (and its warnings).</summary>
    public Action<string>? Log { get; set; }

    /// <summary>One line describing the run.</summary>
    public string Summary
    {
        get
        {
            var opt = Config.Trainer;
            return $"{ModelConfig.ParameterCount:N0} parameters, {Config.Rounds.Rounds} rounds × {Config.Rounds.StepsPerRound:N0} steps " +
                $"(teacher {Config.Rounds.TeacherSteps} → student {Config.Rounds.StudentStepsAt(Config.Rounds.Rounds - 1)} steps), k {Config.Rounds.K}, " +
                $"{Divergence.Name(Config.Sdtt.Loss)} loss, {TeacherTimeGrid.Name(Config.Sdtt.Grid)} grid, global batch {opt.GlobalBatch} " +
                $"({(_world.Size > 1 ? $"{_world.Size} ranks × " : "")}{opt.Accumulation / _world.Size}×{opt.MicroBatch}), " +
                $"lr {opt.Lr:G3} (warm-up {opt.WarmupSteps}), EMA {opt.EmaDecay}, {(opt.Bf16 ? "bf16" : "fp32")} on {opt.Device}";
        }
    }

    /// <summary>The cost model's ETA.</summary>
    public string Estimate => DistillDefaults.Eta(Config, ModelConfig, _train.SeqLen, TorchRuntime.ResolveDevice(Config.Trainer.Device), Config.Trainer.MaxSteps);

    /// <summary>Checks everything and sets the run up; <paramref name="note"/> receives one-line notes.</summary>
    public static DistillationJob Prepare(DistillationJobOptions options, ICommunicator? world = null, Action<string>? note = null)
    {
        world ??= SingleProcessCommunicator.Instance;
        note ??= _ => { };
        var sets = options.Sets ?? Array.Empty<string>();
        var outPath = options.OutDir;
        string? from = options.ResumeFrom;
        bool isResume = options.Resume || from is not null;
        string? cfgName = options.Config;
        OutputPath.RequireFolder(outPath);
        string? teacherDir = options.Teacher, dataDir = options.DataDir;
        var state = RunFolder.Check(outPath, DistillationRun.ResolvedConfigFile, isResume, from, "distill");
        if (isResume)
        {
            var (runTeacher, runData) = DistillationRun.ReadInputs(outPath);
            teacherDir ??= runTeacher;
            dataDir ??= runData;
            cfgName ??= Path.Combine(outPath, DistillationRun.ResolvedConfigFile);
        }
        if (teacherDir is null) throw new SdttException("--teacher DIR is required (a diffusion model folder, e.g. from `sdtt train`)");
        if (dataDir is null) throw new SdttException("--data DIR is required (a folder written by `sdtt prepare`)");

        DistillConfig.Load(cfgName ?? "tiny", sets); // checks the config and every --set before any work
        TorchRuntime.EnsureLoaded();
        var modelCfg = ModelFolder.ReadDitConfig(teacherDir);
        var train = TokenDataset.Open(dataDir, "train");
        TokenDataset? valid = null;
        Dit? student = null, teacherModel = null;
        SdttObjective? objective = null;
        try
        {
            valid = TokenDataset.Open(dataDir, "valid");
            train.RequireVocabulary(modelCfg.VocabSize, "the teacher's");
            var plan = cfgName is null
                ? DistillDefaults.Choose(modelCfg, train.SeqLen, TorchRuntime.ResolveDevice(options.Device ?? "auto"), CpuInfo.Current)
                : null;
            var cfg = DistillConfig.Load(cfgName ?? plan!.Preset, sets);
            if (plan is not null && cfg.Trainer.Bf16 && !plan.Bf16) cfg = cfg with { Trainer = cfg.Trainer with { Bf16 = false } };
            var opt = cfg.Trainer;
            if (options.Device is { } dev) opt = opt with { Device = dev };
            if (options.Threads is { } th) opt = opt with { Threads = th };
            opt = opt with { Threads = DataParallelPlan.ThreadsPerRank(world, opt.Threads) };
            if (opt.Threads > 0) torch.set_num_threads(opt.Threads);
            var device = TorchRuntime.ResolveDevice(opt.Device);
            opt = opt with { Device = device.ToString() };
            cfg = cfg with { Trainer = opt.Validate() };
            if (plan is null && opt.Bf16 && device.type == DeviceType.CPU && !CpuInfo.Current.HasNativeBf16)
                note($"bf16 is on but this CPU ({CpuInfo.Current.ModelName}) has no native bf16, so it is emulated and slower than fp32; consider --set trainer.bf16=false");
            DataParallelPlan.For(world, opt.GlobalBatch, opt.MicroBatch);
            // Load (and so check) the teacher and the judge before the run folder is touched; only rank 0 judges the rounds.
            student = ModelFolder.LoadDit(teacherDir, device);
            teacherModel = ModelFolder.LoadDit(teacherDir, device);
            teacherModel.Precision = opt.Bf16 ? ModelPrecision.BFloat16 : ModelPrecision.Float32;
            var evaluator = world.IsRoot() && options.Judge is { } judgeDir ? RoundJudge.Create(judgeDir, options.EvalSamples, train.SeqLen, device, opt.Seed) : null;
            isResume = RunFolder.PrepareOnRoot(world, state, outPath, DistillationRun.ResolvedConfigFile, isResume, from, "distill", note);
            var run = new DistillationRun(outPath, cfg.Rounds, cfg.Sdtt.Loss);
            if (world.IsRoot()) run.WriteStart(cfg, teacherDir, dataDir);
            objective = new SdttObjective(student, teacherModel, cfg.Rounds, cfg.Sdtt, run.RoundsDir, ownsModels: true);
            var job = new DistillationJob(options, cfg, modelCfg, train, valid, objective, run, world, isResume, plan?.Reason);
            objective.RoundFinished = (info, _) => job.OnRoundFinished(info, evaluator);
            return job;
        }
        catch
        {
            // The objective owns the models once it exists; before that they are freed here.
            if (objective is not null) objective.Dispose();
            else { student?.Dispose(); teacherModel?.Dispose(); }
            train.Dispose();
            valid?.Dispose();
            throw;
        }
    }

    /// <summary>Trains every round; on rank 0 closes the final round and draws the loss plot. Throws
    /// <see cref="TrainingDivergedException"/> on divergence.</summary>
    public DistillationJobResult Run(IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        var result = new Trainer(Objective, Config.Trainer, _train, _valid, Options.OutDir, _world.IsRoot() ? progress : null)
        {
            Plot = false, Communicator = _world, ResumeFrom = _resume ? Options.ResumeFrom : null, AllowDataChange = Options.AllowDataChange,
        }.Run(_resume, cancellation);
        if (!_world.IsRoot()) return new DistillationJobResult(result, Array.Empty<string>(), null);
        Objective.FinishFinalRound(result.FinalStep);
        return new DistillationJobResult(result, _run.RoundFolders(), _run.TryPlot());
    }

    /// <summary>The run's loss plot.</summary>
    public string PlotPath => Path.Combine(Options.OutDir, DistillationRun.PlotFile);

    /// <summary>The folder of the round students.</summary>
    public string RoundsDir => _run.RoundsDir;

    private void OnRoundFinished(FinishedRound info, Func<FinishedRound, IReadOnlyList<KeyValuePair<string, double>>>? evaluator)
    {
        var judged = evaluator?.Invoke(info);
        var warning = _run.RecordRound(info, judged);
        string extra = judged is null ? "" : ", " + string.Join(", ", judged.Select(kv => $"{kv.Key} {kv.Value.ToString("G5", CultureInfo.InvariantCulture)}"));
        Log?.Invoke($"round {info.Round} done at step {info.GlobalStep}: student for {info.StudentSteps} steps saved to {info.Dir}{extra}");
        if (warning is not null) Log?.Invoke($"warning: {warning}");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Objective.Dispose();
        _train.Dispose();
        _valid.Dispose();
    }
}
