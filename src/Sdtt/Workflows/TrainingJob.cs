using Sdtt.Data;
using Sdtt.Diffusion;
using Sdtt.Distributed;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Training;
using TorchSharp;

namespace Sdtt.Workflows;

/// <summary>What to pre-train and where: the inputs of <c>sdtt train</c> as a record.</summary>
/// <param name="Config">A shipped config name or a JSON file; null on resume reads OUT/train_config.json.</param>
/// <param name="Sets">key=value overrides of the config (<c>max_steps=60</c>, <c>model.n_blocks=2</c>).</param>
/// <param name="DataDir">A prepared token folder (<see cref="CorpusPreparer"/>).</param>
/// <param name="OutDir">The run folder: empty or absent unless <paramref name="Resume"/>.</param>
/// <param name="Resume">Continue the run in <paramref name="OutDir"/> from its last checkpoint.</param>
/// <param name="ResumeFrom">Continue from this checkpoint instead (a step, 0, or a checkpoint folder).</param>
/// <param name="AllowDataChange">On resume, accept data whose content differs from the checkpoint's.</param>
/// <param name="Device">cpu, cuda, cuda:N or auto; null keeps the config's.</param>
/// <param name="Threads">libtorch threads; null keeps the config's (0 = libtorch's default).</param>
/// <param name="ModelType">mdlm (default) or ar (the GPT-2 baseline of the same shape); null on resume reads the folder.</param>
public sealed record TrainingJobOptions(string? Config, IReadOnlyList<string> Sets, string DataDir, string OutDir,
    bool Resume = false, string? ResumeFrom = null, bool AllowDataChange = false, string? Device = null, int? Threads = null,
    string? ModelType = null);

/// <summary>One pre-training run (MDLM or the AR baseline) checked and set up: the config resolved, the run folder prepared,
/// data opened and the objective built, so that <see cref="Run"/> only trains. Every check happens in
/// <see cref="Prepare"/> before anything is written, so a rejected run leaves no folder behind.</summary>
public sealed class TrainingJob : IDisposable
{
    /// <summary>Resolved config file written into the run folder.</summary>
    public const string ResolvedConfigFile = "train_config.json";

    private readonly TokenDataset _train, _valid;
    private readonly ITrainingObjective _objective;
    private readonly ICommunicator _world;
    private readonly bool _resume;

    private TrainingJob(TrainingJobOptions options, TrainingConfig config, TokenDataset train, TokenDataset valid,
        ITrainingObjective objective, ICommunicator world, bool resume, bool isAr)
    {
        Options = options;
        Config = config;
        _train = train;
        _valid = valid;
        _objective = objective;
        _world = world;
        _resume = resume;
        IsAutoregressive = isAr;
    }

    /// <summary>The inputs.</summary>
    public TrainingJobOptions Options { get; }
    /// <summary>The resolved config (written to OUT/train_config.json).</summary>
    public TrainingConfig Config { get; }
    /// <summary>True for the AR baseline, false for MDLM.</summary>
    public bool IsAutoregressive { get; }
    /// <summary>Whether the run continues from a checkpoint.</summary>
    public bool IsResume => _resume;
    /// <summary>Called after the first step's gradients are summed over ranks, before clipping (a verification aid).</summary>
    public Action<torch.nn.Module, TrainingContext>? GradientsReady { get; set; }

    /// <summary>One line describing the run (objective, size, data, batch, steps, lr, precision, device, threads).</summary>
    public string Summary
    {
        get
        {
            var opt = Config.Trainer;
            long parameters = IsAutoregressive ? ArTraining.Config(Config.Model).ParameterCount : Config.Model.ParameterCount;
            return $"{_objective.Name}, {parameters:N0} parameters (D {Config.Model.HiddenSize}, {Config.Model.NBlocks} blocks), " +
                $"{_train.Count:N0} train / {_valid.Count:N0} valid sequences of {_train.SeqLen}, global batch {opt.GlobalBatch} " +
                $"({(_world.Size > 1 ? $"{_world.Size} ranks × " : "")}{opt.Accumulation / _world.Size}×{opt.MicroBatch}), {opt.MaxSteps:N0} steps, lr {opt.Lr:G3} (warm-up {opt.WarmupSteps}), " +
                $"{(opt.Bf16 ? "bf16" : "fp32")} on {opt.Device}, {torch.get_num_threads()} threads";
        }
    }

    /// <summary>The cost model's time per step and ETA for the whole run.</summary>
    public string Estimate
    {
        get
        {
            var opt = Config.Trainer;
            double perStep = TrainingCost.StepSeconds(Config.Model, (long)opt.GlobalBatch * _train.SeqLen, 3, opt.Bf16, TorchRuntime.ResolveDevice(opt.Device));
            return $"estimated ~{Durations.FormatSeconds(perStep)} per step, ETA {Durations.FormatSeconds(perStep * opt.MaxSteps)} for {opt.MaxSteps:N0} steps";
        }
    }

    /// <summary>Checks everything (config, overrides, run folder state, data, vocabulary, batch plan) and sets the run up:
    /// rank 0 prepares the folder and writes the resolved config; <paramref name="note"/> receives one-line notes.</summary>
    public static TrainingJob Prepare(TrainingJobOptions options, ICommunicator? world = null, Action<string>? note = null)
    {
        world ??= SingleProcessCommunicator.Instance;
        note ??= _ => { };
        var outPath = options.OutDir;
        var from = options.ResumeFrom;
        bool isResume = options.Resume || from is not null;
        OutputPath.RequireFolder(outPath);
        var state = RunFolder.Inspect(outPath, ResolvedConfigFile);
        var cfgName = options.Config;
        if (isResume && state is RunFolderState.Resumable or RunFolderState.Unstarted) cfgName ??= Path.Combine(outPath, ResolvedConfigFile);
        if (cfgName is null)
            throw new SdttException(isResume ? $"{outPath}: --resume found no checkpoint ({Trainer.CheckpointsDirName}/{CheckpointStore.LastFile} is missing) and no {ResolvedConfigFile}; start a new run with --config"
                                             : "--config NAME|FILE.json is required");
        RunFolder.Check(outPath, ResolvedConfigFile, isResume, from, "train");
        var cfg = TrainingConfig.Load(cfgName, options.Sets);
        var opt = cfg.Trainer;
        if (options.Device is { } dev) opt = opt with { Device = dev };
        if (options.Threads is { } th) opt = opt with { Threads = th };
        opt = opt with { Threads = DataParallelPlan.ThreadsPerRank(world, opt.Threads) };
        TorchRuntime.EnsureLoaded();
        if (opt.Threads > 0) torch.set_num_threads(opt.Threads);
        var device = TorchRuntime.ResolveDevice(opt.Device);
        opt = opt with { Device = device.ToString() };
        var train = TokenDataset.Open(options.DataDir, "train");
        TokenDataset? valid = null;
        try
        {
            valid = TokenDataset.Open(options.DataDir, "valid");
            var modelCfg = cfg.Model;
            if (modelCfg.ModelLength != train.SeqLen)
            {
                note($"model.length {modelCfg.ModelLength} → {train.SeqLen} (the data's sequence length)");
                modelCfg = modelCfg with { ModelLength = train.SeqLen };
            }
            if (modelCfg.VocabSize < Gpt2Tokenizer.ModelVocabSize) train.RequireVocabulary(modelCfg.VocabSize, "the model's (model.vocab_size)");
            cfg = cfg with { Model = modelCfg, Trainer = opt.Validate() };
            DataParallelPlan.For(world, opt.GlobalBatch, opt.MicroBatch);
            bool isAr = ArTraining.IsAr(options.ModelType, outPath, isResume);
            isResume = RunFolder.PrepareOnRoot(world, state, outPath, ResolvedConfigFile, isResume, from, "train", note);
            if (world.IsRoot()) ModelFolder.WriteJsonAtomic(Path.Combine(outPath, ResolvedConfigFile), cfg.ToJson());

            torch.random.manual_seed(opt.Seed);
            ITrainingObjective objective = isAr ? ArTraining.Objective(modelCfg, device, outPath, world.IsRoot()) : NewMdlm(modelCfg, device, cfg.Mdlm);
            return new TrainingJob(options, cfg, train, valid, objective, world, isResume, isAr);
        }
        catch
        {
            train.Dispose();
            valid?.Dispose();
            throw;
        }
    }

    /// <summary>Trains to the config's max_steps (or until <paramref name="cancellation"/>), checkpointing as configured;
    /// only rank 0 reports <paramref name="progress"/>. Throws <see cref="TrainingDivergedException"/> on divergence.</summary>
    public TrainingResult Run(IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default) =>
        new Trainer(_objective, Config.Trainer, _train, _valid, Options.OutDir, _world.IsRoot() ? progress : null)
        {
            Communicator = _world, GradientsReady = GradientsReady,
            ResumeFrom = _resume ? Options.ResumeFrom : null, AllowDataChange = Options.AllowDataChange,
        }.Run(_resume, cancellation);

    /// <inheritdoc />
    public void Dispose()
    {
        _objective.Dispose();
        _train.Dispose();
        _valid.Dispose();
    }

    private static ITrainingObjective NewMdlm(DitConfig modelCfg, torch.Device device, MdlmOptions options)
    {
        var model = new Dit(modelCfg);
        if (!device.type.Equals(DeviceType.CPU)) model.to(device);
        return new MdlmObjective(model, options, ownsModel: true);
    }
}
