using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.Distributed;
using Sdtt.IO;
using Sdtt.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Sdtt.Training;

/// <summary>The training loop shared by MDLM pre-training, SDTT distillation and the autoregressive baseline:
/// gradient accumulation to a global batch, total-norm clipping, AdamW with linear warm-up then constant LR, EMA with the
/// reference warm-up, validation with EMA weights, atomic checkpoints (weights, EMA, optimizer, step, RNG, data position,
/// objective state) kept as <c>last</c> plus the newest k, exact resume, NaN/Inf stop, metrics.jsonl and loss.png.</summary>
public sealed class Trainer
{
    /// <summary>Metrics file name in the run folder.</summary>
    public const string MetricsFile = "metrics.jsonl";
    /// <summary>Plot file name in the run folder.</summary>
    public const string PlotFile = "loss.png";
    /// <summary>Final model folder name in the run folder.</summary>
    public const string ModelDirName = "model";
    /// <summary>Checkpoints folder name in the run folder.</summary>
    public const string CheckpointsDirName = "checkpoints";

    private readonly ITrainingObjective _objective;
    private readonly TrainerOptions _opt;
    private readonly TokenDataset _train;
    private readonly TokenDataset? _valid;
    private readonly IProgress<TrainingProgress>? _progress;
    private AdamW? _optimizer;
    private IReadOnlyDictionary<string, double>? _lastValidation;

    /// <summary>The run folder.</summary>
    public string RunDir { get; }
    /// <summary>Checkpoint folder of the run.</summary>
    public CheckpointStore Checkpoints { get; }
    /// <summary>The metrics log of the run.</summary>
    public MetricsLog Metrics { get; }
    /// <summary>Whether <see cref="Run"/> writes <c>model/</c> at the end (default true).</summary>
    public bool WriteFinalModel { get; init; } = true;
    /// <summary>Called after the micro-batches of each optimizer step have accumulated their gradients (summed over ranks
    /// in a data-parallel run), before clipping (for gradient inspection and tests).</summary>
    public Action<nn.Module, TrainingContext>? GradientsReady { get; init; }
    /// <summary>Whether <see cref="Run"/> draws loss.png (default true).</summary>
    public bool Plot { get; init; } = true;
    /// <summary>The group of data-parallel ranks (default: this process alone). With several ranks each runs its share of
    /// every global batch, gradients are summed across ranks before clipping, and only rank 0 writes (see docs/distributed.md).</summary>
    public ICommunicator Communicator { get; init; } = SingleProcessCommunicator.Instance;
    private bool IsWriter => Communicator.Rank == 0;

    /// <summary>A trainer for <paramref name="objective"/> on <paramref name="train"/> (validated on <paramref name="valid"/>
    /// when given), writing into <paramref name="runDir"/>.</summary>
    public Trainer(ITrainingObjective objective, TrainerOptions options, TokenDataset train, TokenDataset? valid, string runDir,
        IProgress<TrainingProgress>? progress = null)
    {
        _objective = objective;
        _opt = options.Validate();
        _train = train;
        _valid = valid;
        _progress = progress;
        RunDir = runDir;
        Checkpoints = new CheckpointStore(Path.Combine(runDir, CheckpointsDirName));
        Metrics = new MetricsLog(Path.Combine(runDir, MetricsFile));
    }

    private static long StepSeed(long seed, long step) => (seed * 1_000_003L + step * 7919L + 17L) & 0x7FFF_FFFF_FFFFL;

    private AdamW NewOptimizer(nn.Module model) =>
        torch.optim.AdamW(model.parameters().Where(p => p.requires_grad), _opt.Lr, _opt.Beta1, _opt.Beta2, _opt.Eps, _opt.WeightDecay);

    private void Report(long step, double loss, double lr, double tps, TimeSpan elapsed, TimeSpan? eta, string? message)
    {
        if (IsWriter) _progress?.Report(new TrainingProgress(step, _opt.MaxSteps, loss, lr, tps, elapsed, eta, _lastValidation, message));
    }

    /// <summary>Runs (or, with <paramref name="resume"/>, continues from <c>checkpoints/last</c>) until max_steps.</summary>
    public TrainingResult Run(bool resume = false, CancellationToken cancel = default)
    {
        Native.TorchRuntime.EnsureLoaded();
        Directory.CreateDirectory(RunDir);
        if (_opt.Threads > 0) torch.set_num_threads(_opt.Threads);
        var device = Native.TorchRuntime.ResolveDevice(_opt.Device);
        var model = _objective.Model;
        if (model is Dit dit) dit.Precision = _opt.Bf16 ? DitPrecision.BFloat16 : DitPrecision.Float32;
        model.train();
        var generator = new Generator((ulong)_opt.Seed, device);
        using var ema = new Ema(model, _opt.EmaDecay);
        _optimizer = NewOptimizer(model);
        var sampler = new BatchSampler(_train.Count, _opt.MicroBatch, (int)(_opt.Seed & int.MaxValue));
        long step = 0;
        string? lastGood = null;
        var ctx = new TrainingContext(_opt, device, generator, ema, () => _optimizer!, () => { _optimizer?.Dispose(); _optimizer = NewOptimizer(model); },
            RunDir, m => Report(-1, double.NaN, double.NaN, double.NaN, TimeSpan.Zero, null, m)) { Communicator = Communicator };
        var plan = DataParallelPlan.For(Communicator, _opt.GlobalBatch, _opt.MicroBatch);
        using var reducer = new GradientAllReducer(Communicator, model.parameters().Where(p => p.requires_grad));

        try
        {
            if (resume)
            {
                lastGood = Checkpoints.Last() ?? throw new SdttException($"{RunDir}: --resume found no checkpoint (no {Path.Combine(CheckpointsDirName, CheckpointStore.LastFile)})");
                step = LoadCheckpoint(lastGood, model, ema, sampler, generator, ctx);
                if (IsWriter) Metrics.TruncateAfter(step);
                Report(step, double.NaN, double.NaN, 0, TimeSpan.Zero, null, $"resumed from {Path.GetFileName(lastGood)} (step {step})");
            }
            else if (Checkpoints.Last() is not null)
                throw new SdttException($"{RunDir}: already holds a checkpoint; resume it (--resume) or use an empty folder");

            GradientAllReducer.Broadcast(Communicator, model); // every rank starts from rank 0's weights
            long startStep = step;
            var losses = new List<double>();
            var validations = new List<(long, IReadOnlyDictionary<string, double>)>();
            var params_ = model.parameters().Where(p => p.requires_grad).ToList();
            long tokensPerStep = (long)_opt.GlobalBatch * _train.SeqLen;
            var trainClock = new Stopwatch();
            var wall = Stopwatch.StartNew();
            double tps = 0;

            while (step < _opt.MaxSteps)
            {
                cancel.ThrowIfCancellationRequested();
                trainClock.Start();
                ctx.Step = step;
                torch.random.manual_seed(StepSeed(_opt.Seed, step));
                if (device.type == DeviceType.CUDA) torch.cuda.manual_seed_all(StepSeed(_opt.Seed, step));
                _objective.OnStepStart(ctx);
                double lr = _opt.Lr * _opt.LrFactor(step);
                foreach (var g in _optimizer!.ParamGroups) g.LearningRate = lr;
                _optimizer.zero_grad();
                double lossSum = 0;
                for (int micro = 0; micro < _opt.Accumulation; micro++)
                {
                    var indices = sampler.Next(); // every rank walks the whole global batch and runs its own share
                    if (!plan.Owns(micro)) continue;
                    ctx.MicroStep = micro;
                    SeedMicroBatch(generator, device, step, micro);
                    using var scope = NewDisposeScope();
                    var batch = _train.Batch(indices, device);
                    var loss = _objective.Loss(batch, ctx);
                    double lv = loss.to(ScalarType.Float64).item<double>();
                    if (!double.IsFinite(lv))
                        throw Diverged(step + 1, $"loss is {Describe(lv)} (micro-batch {micro + 1}/{_opt.Accumulation})", lastGood);
                    (loss / _opt.Accumulation).backward();
                    lossSum += lv;
                }
                reducer.AllReduce();
                lossSum = Communicator.Sum(lossSum); // the mean over the global batch below
                GradientsReady?.Invoke(model, ctx);
                double gradNorm;
                using (no_grad())
                    gradNorm = _opt.GradClip > 0
                        ? nn.utils.clip_grad_norm_(params_, _opt.GradClip)
                        : nn.utils.clip_grad_norm_(params_, double.PositiveInfinity);
                if (!double.IsFinite(gradNorm))
                    throw Diverged(step + 1, $"gradient norm is {Describe(gradNorm)}", lastGood);
                _optimizer.step();
                _optimizer.zero_grad();
                ema.Update(model);
                step++;
                trainClock.Stop();

                double stepLoss = lossSum / _opt.Accumulation;
                losses.Add(stepLoss);
                var extra = Communicator.AverageEach(ctx.TakeMetrics());
                if (Communicator.Size > 1)
                {
                    extra["allreduce_ms"] = Communicator.Average(reducer.LastDuration.TotalMilliseconds);
                    extra["allreduce_mb"] = reducer.BytesPerStep / 1e6;
                }
                tps = (step - startStep) * (double)tokensPerStep / Math.Max(1e-9, trainClock.Elapsed.TotalSeconds);
                double perStep = trainClock.Elapsed.TotalSeconds / (step - startStep);
                var eta = TimeSpan.FromSeconds(perStep * (_opt.MaxSteps - step));
                bool last = step == _opt.MaxSteps;
                if (IsWriter && (step % _opt.LogEvery == 0 || last || step == startStep + 1))
                {
                    var values = new List<KeyValuePair<string, double>>
                    {
                        new("loss", stepLoss), new("lr", lr), new("grad_norm", gradNorm), new("tokens_per_s", tps),
                        new("elapsed_s", wall.Elapsed.TotalSeconds), new("ema_decay", ema.DecayAt(ema.NumUpdates)),
                    };
                    values.AddRange(extra);
                    Metrics.Append(step, "train", values);
                }
                Report(step, stepLoss, lr, tps, wall.Elapsed, eta, null);

                if (IsWriter && _valid is not null && ((_opt.EvalEvery > 0 && step % _opt.EvalEvery == 0) || last))
                {
                    var v = Validate(model, ema, ctx);
                    validations.Add((step, v));
                    _lastValidation = v;
                    Metrics.Append(step, "valid", v);
                    Report(step, stepLoss, lr, tps, wall.Elapsed, eta,
                        $"step {step}: validation " + string.Join(", ", v.Select(kv => $"{kv.Key} {kv.Value:G5}")));
                    if (Plot) TryPlot();
                }
                if (!IsWriter && ((_opt.CheckpointEvery > 0 && step % _opt.CheckpointEvery == 0) || last))
                    lastGood = Path.Combine(Checkpoints.Dir, CheckpointStore.StepName(step)); // rank 0 writes it
                else if ((_opt.CheckpointEvery > 0 && step % _opt.CheckpointEvery == 0) || last)
                {
                    lastGood = SaveCheckpoint(step, model, ema, sampler, generator);
                    Report(step, stepLoss, lr, tps, wall.Elapsed, eta, $"step {step}: checkpoint {Path.GetRelativePath(RunDir, lastGood)}");
                }
            }

            ctx.Step = step;
            string? modelDir = null;
            if (WriteFinalModel && IsWriter)
            {
                modelDir = Path.Combine(RunDir, ModelDirName);
                using (ema.Apply(model))
                    _objective.WriteModel(modelDir, true, ctx);
                Report(step, double.NaN, double.NaN, tps, wall.Elapsed, TimeSpan.Zero, $"final model (EMA weights) written to {modelDir}");
            }
            if (Plot && IsWriter) TryPlot();
            return new TrainingResult(startStep, step, losses, validations, tps, modelDir);
        }
        finally
        {
            _optimizer?.Dispose();
            _optimizer = null;
            generator.Dispose();
        }
    }

    // All randomness of global micro-batch g of this step (noise generator, dropout) from (seed, step, g) alone, so that the
    // split of the global batch over ranks and accumulation steps does not change the numbers.
    private void SeedMicroBatch(Generator generator, Device device, long step, int g)
    {
        generator.manual_seed(DataParallelPlan.NoiseSeed(_opt.Seed, step, g));
        long dropout = DataParallelPlan.DropoutSeed(_opt.Seed, step, g);
        torch.random.manual_seed(dropout);
        if (device.type == DeviceType.CUDA) torch.cuda.manual_seed_all(dropout);
    }

    private static string Describe(double v) => double.IsNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";

    private TrainingDivergedException Diverged(long step, string what, string? lastGood) =>
        new($"training stopped at step {step}: {what}; " +
            (lastGood is null ? "no checkpoint was written" : $"the last good checkpoint is {lastGood} (resume from it with --resume, e.g. with a lower --set lr=…)"), step);

    private IReadOnlyDictionary<string, double> Validate(nn.Module model, Ema ema, TrainingContext ctx)
    {
        using var _ = no_grad();
        ctx.Validating = true;
        try
        {
            using (ema.Apply(model))
            {
                model.eval();
                try { return _objective.Validate(_valid!, ctx); }
                finally { model.train(); }
            }
        }
        finally { ctx.Validating = false; }
    }

    private void TryPlot()
    {
        try
        {
            var first = Metrics.Read().FirstOrDefault(o => o["kind"]?.GetValue<string>() == "valid");
            string key = first?.Select(kv => kv.Key).FirstOrDefault(k => k is not ("step" or "kind")) ?? "nll";
            LossCurvePlot.Write(Metrics, Path.Combine(RunDir, PlotFile), key, title: $"{_objective.Name}: training loss and validation {key} (EMA weights)");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _progress?.Report(new TrainingProgress(-1, _opt.MaxSteps, double.NaN, double.NaN, double.NaN, TimeSpan.Zero, null, null, $"warning: loss plot not written ({e.Message})"));
        }
    }

    private string SaveCheckpoint(long step, nn.Module model, Ema ema, BatchSampler sampler, Generator generator) =>
        Checkpoints.Save(step, dir =>
        {
            SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), model.state_dict());
            ema.Save(Path.Combine(dir, "ema.safetensors"));
            _optimizer!.save_state_dict(Path.Combine(dir, "optimizer.bin"));
            using (var state = generator.get_state())
                SafeTensorsWriter.Write(Path.Combine(dir, "rng.safetensors"), new[] { new KeyValuePair<string, Tensor>("generator", state) });
            var s = sampler.State;
            var info = new JsonObject
            {
                ["step"] = step,
                ["objective"] = _objective.Name,
                ["ema_updates"] = ema.NumUpdates,
                ["sampler"] = new JsonObject { ["epoch"] = s.Epoch, ["cursor"] = s.Cursor, ["seed"] = s.Seed },
                ["micro_batch"] = _opt.MicroBatch,
                ["train_sequences"] = _train.Count,
                ["seq_len"] = _train.SeqLen,
                ["global_batch"] = _opt.GlobalBatch,
                ["seed"] = _opt.Seed,
                ["world_size"] = Communicator.Size,
                ["written_utc"] = DateTime.UtcNow.ToString("O"),
            };
            ModelFolder.WriteJsonAtomic(Path.Combine(dir, "trainer.json"), info);
            var od = Path.Combine(dir, "objective");
            Directory.CreateDirectory(od);
            _objective.SaveState(od);
        }, _opt.KeepCheckpoints);

    private long LoadCheckpoint(string dir, nn.Module model, Ema ema, BatchSampler sampler, Generator generator, TrainingContext ctx)
    {
        var infoPath = Path.Combine(dir, "trainer.json");
        if (!File.Exists(infoPath)) throw new SdttException($"{dir}: incomplete checkpoint (no trainer.json)");
        var info = JsonNode.Parse(File.ReadAllText(infoPath))!.AsObject();
        string obj = info["objective"]?.GetValue<string>() ?? "";
        if (obj != _objective.Name) throw new SdttException($"{dir}: checkpoint of objective '{obj}', cannot resume it as '{_objective.Name}'");
        int micro = info["micro_batch"]!.GetValue<int>();
        if (micro != _opt.MicroBatch) throw new SdttException($"{dir}: checkpoint used micro_batch {micro}, this run {_opt.MicroBatch}; resume with the same micro_batch");
        int ranks = info["world_size"]?.GetValue<int>() ?? 1;
        if (ranks != Communicator.Size)
            throw new SdttException($"{dir}: checkpoint was written by a run of {ranks} rank(s), this run has {Communicator.Size}; " +
                $"resume with the same world size ({(ranks == 1 ? "without mpirun" : $"mpirun -np {ranks}")})");
        long seqs = info["train_sequences"]?.GetValue<long>() ?? _train.Count;
        int seqLen = info["seq_len"]?.GetValue<int>() ?? _train.SeqLen;
        if (seqs != _train.Count || seqLen != _train.SeqLen)
            throw new SdttException($"{dir}: checkpoint was trained on {seqs} sequences of {seqLen} tokens, this data has {_train.Count} of {_train.SeqLen}; resume with the same --data");
        using (var f = new SafeTensorsFile(Path.Combine(dir, "model.safetensors")))
        using (no_grad())
        {
            var sd = model.state_dict();
            var missing = sd.Keys.Where(k => !f.Entries.ContainsKey(k)).ToList();
            if (missing.Count > 0) throw new SdttException($"{dir}: model.safetensors lacks {missing.Count} tensors (first: {missing[0]})");
            foreach (var (k, t) in sd)
            {
                using var src = f.Load(k);
                if (!src.shape.SequenceEqual(t.shape)) throw new SdttException($"{dir}: tensor {k} has shape [{string.Join(",", src.shape)}], the model [{string.Join(",", t.shape)}]");
                t.copy_(src);
            }
        }
        ema.Load(Path.Combine(dir, "ema.safetensors"));
        _optimizer!.load_state_dict(Path.Combine(dir, "optimizer.bin"));
        using (var f = new SafeTensorsFile(Path.Combine(dir, "rng.safetensors")))
        using (var st = f.Load("generator"))
            generator.set_state(st);
        var s = info["sampler"]!;
        sampler.Restore(new BatchSamplerState(s["epoch"]!.GetValue<long>(), s["cursor"]!.GetValue<long>(), s["seed"]!.GetValue<int>()));
        _objective.LoadState(Path.Combine(dir, "objective"));
        long step = info["step"]!.GetValue<long>();
        ctx.Step = step;
        return step;
    }
}
