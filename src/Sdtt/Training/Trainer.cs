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
/// objective state) kept as <c>last</c> plus the newest k and the newest healthy one, exact resume (from the last or any
/// kept checkpoint), a divergence stop (<see cref="DivergenceDetector"/>) that names a checkpoint to recover from, a check
/// that resumed runs see the same data, metrics.jsonl, loss.png, and the final <c>model/</c> written atomically.</summary>
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
    /// <summary>With <c>resume</c>: the checkpoint to continue from instead of <c>last</c> — a step number of this run's
    /// checkpoints or a checkpoint folder; "0" restarts the run from step 0, discarding its checkpoints. Checkpoints after
    /// the chosen one are deleted (the run leaves that branch).</summary>
    public string? ResumeFrom { get; init; }
    /// <summary>Whether a resumed run may continue on training data whose content differs from the checkpoint's (the change
    /// is reported and recorded in later checkpoints); by default that is an error.</summary>
    public bool AllowDataChange { get; init; }

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
        torch.optim.AdamW(model.parameters().Where(p => p.requires_grad), _opt.Lr, _opt.Beta1, _opt.Beta2, _opt.AdamEps, _opt.WeightDecay);

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
        if (model is IPrecisionSwitchable net) net.Precision = _opt.Bf16 ? ModelPrecision.BFloat16 : ModelPrecision.Float32;
        model.train();
        var generator = new Generator((ulong)_opt.Seed, device);
        using var ema = new Ema(model, _opt.EmaDecay);
        _optimizer = NewOptimizer(model);
        var sampler = new BatchSampler(_train.Count, _opt.MicroBatch, (int)(_opt.Seed & int.MaxValue));
        string dataId = Data.DataFingerprint.Of(_train);
        var dataChanges = new JsonArray();
        var ctx = new TrainingContext(_opt, device, generator, ema, () => _optimizer!, () => { _optimizer?.Dispose(); _optimizer = NewOptimizer(model); },
            RunDir, m => Report(-1, double.NaN, double.NaN, double.NaN, TimeSpan.Zero, null, m)) { Communicator = Communicator };
        var plan = DataParallelPlan.For(Communicator, _opt.GlobalBatch, _opt.MicroBatch);
        using var reducer = new GradientAllReducer(Communicator, model.parameters().Where(p => p.requires_grad));

        try
        {
            var (step, detector, lastGood, pending) = Restore(resume, model, ema, sampler, generator, ctx, dataId, dataChanges);

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
                double lossSum = AccumulateGradients(step, ctx, sampler, plan, generator, device);
                reducer.AllReduce();
                lossSum = Communicator.Sum(lossSum); // the mean over the global batch below
                GradientsReady?.Invoke(model, ctx);
                double gradNorm = ClipGradients(params_);
                // Loss and gradient norm were measured on the weights this step starts from (the newest checkpoint's, if
                // it was the previous step): judge them before they can move the weights.
                if (detector.Check(lossSum / _opt.Accumulation, gradNorm) is { } why)
                {
                    if (IsWriter) Metrics.Append(step + 1, "diverged", new KeyValuePair<string, double>[] { new("loss", lossSum / _opt.Accumulation), new("grad_norm", gradNorm) });
                    throw Diverged(step + 1, why, _opt.Lr);
                }
                detector.Accept(lossSum / _opt.Accumulation, gradNorm);
                if (pending is not null) { if (IsWriter) Checkpoints.MarkHealthy(pending); pending = null; }
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
                    LogTrainStep(step, stepLoss, lr, gradNorm, tps, wall.Elapsed, ema, extra);
                Report(step, stepLoss, lr, tps, wall.Elapsed, eta, null);

                if (IsWriter && _valid is not null && ((_opt.EvalEvery > 0 && step % _opt.EvalEvery == 0) || last))
                    validations.Add((step, ValidateAndRecord(step, model, ema, ctx, stepLoss, lr, tps, wall.Elapsed, eta)));
                if (!IsWriter && ((_opt.CheckpointEvery > 0 && step % _opt.CheckpointEvery == 0) || last))
                    pending = lastGood = Path.Combine(Checkpoints.Dir, CheckpointStore.StepName(step)); // rank 0 writes it
                else if ((_opt.CheckpointEvery > 0 && step % _opt.CheckpointEvery == 0) || last)
                {
                    lastGood = SaveCheckpoint(step, model, ema, sampler, generator, detector, stepLoss, dataId, dataChanges);
                    pending = lastGood;
                    Report(step, stepLoss, lr, tps, wall.Elapsed, eta, $"step {step}: checkpoint {Path.GetRelativePath(RunDir, lastGood)}");
                }
            }

            ctx.Step = step;
            string? modelDir = WriteFinalModel && IsWriter ? WriteModel(step, model, ema, ctx, tps, wall.Elapsed) : null;
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

    /// <summary>Where a run starts: step 0 of a fresh run (refusing a folder that already holds checkpoints), step 0 of
    /// a restart (<c>--resume-from 0</c>: earlier checkpoints and metrics discarded) or a checkpoint's step with its
    /// weights, EMA, optimizer, data position, generators and divergence detector. Returns the step, the detector, the
    /// checkpoint resumed from and the checkpoint still awaiting its health check.</summary>
    private (long Step, DivergenceDetector Detector, string? LastGood, string? Pending) Restore(bool resume, nn.Module model, Ema ema,
        BatchSampler sampler, Generator generator, TrainingContext ctx, string dataId, JsonArray dataChanges)
    {
        long step = 0;
        string? lastGood = null;
        string? pending = null; // the newest checkpoint, until the next step finds its weights healthy
        var detector = new DivergenceDetector();
        if (resume && ResumeFrom?.Trim() == "0")
        {
            if (IsWriter)
            {
                Checkpoints.Clear();
                Metrics.TruncateAfter(0);
            }
            Report(0, double.NaN, double.NaN, 0, TimeSpan.Zero, null, "starting afresh from step 0 (earlier checkpoints discarded)");
        }
        else if (resume)
        {
            lastGood = ResumeFrom is { } from ? Checkpoints.Resolve(from.Trim())
                : Checkpoints.Last() ?? throw new SdttException($"{RunDir}: --resume found no checkpoint (no {Path.Combine(CheckpointsDirName, CheckpointStore.LastFile)})");
            (step, detector) = LoadCheckpoint(lastGood, model, ema, sampler, generator, ctx, dataId, dataChanges);
            Communicator.Barrier(); // every rank has read its checkpoint before rank 0 deletes the later ones
            if (IsWriter)
            {
                var discarded = Checkpoints.DiscardAfter(step);
                if (discarded.Count > 0)
                    Report(step, double.NaN, double.NaN, 0, TimeSpan.Zero, null, $"discarded the later checkpoints {string.Join(", ", discarded)}");
                Metrics.TruncateAfter(step);
            }
            if (Checkpoints.Healthy() != lastGood) pending = lastGood;
            Report(step, double.NaN, double.NaN, 0, TimeSpan.Zero, null, $"resumed from {Path.GetFileName(lastGood)} (step {step})");
        }
        else if (Checkpoints.Last() is not null)
            throw new SdttException($"{RunDir}: already holds a checkpoint; resume it (--resume) or use an empty folder");
        else if (IsWriter) Metrics.TruncateAfter(0); // a fresh start owns the folder: no stale lines of an attempt that never checkpointed
        return (step, detector, lastGood, pending);
    }

    /// <summary>Forward and backward of this rank's share of the step's micro-batches (every rank walks the whole global
    /// batch so the data order does not depend on the rank count), each seeded from (seed, step, micro-batch) alone.
    /// Returns the sum of this rank's micro-batch losses.</summary>
    private double AccumulateGradients(long step, TrainingContext ctx, BatchSampler sampler, DataParallelPlan plan, Generator generator, Device device)
    {
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
                throw Diverged(step + 1, $"loss is {Describe(lv)} (micro-batch {micro + 1}/{_opt.Accumulation})", _opt.Lr);
            (loss / _opt.Accumulation).backward();
            lossSum += lv;
        }
        return lossSum;
    }

    /// <summary>Appends a "train" record: loss, learning rate, gradient norm, throughput, time, EMA decay and the
    /// objective's own metrics.</summary>
    private void LogTrainStep(long step, double stepLoss, double lr, double gradNorm, double tps, TimeSpan elapsed, Ema ema,
        IEnumerable<KeyValuePair<string, double>> extra)
    {
        var values = new List<KeyValuePair<string, double>>
        {
            new("loss", stepLoss), new("lr", lr), new("grad_norm", gradNorm), new("tokens_per_s", tps),
            new("elapsed_s", elapsed.TotalSeconds), new("ema_decay", ema.DecayAt(ema.NumUpdates)),
        };
        values.AddRange(extra);
        Metrics.Append(step, "train", values);
    }

    /// <summary>Writes the final model folder with the EMA weights, atomically. Returns its path.</summary>
    private string WriteModel(long step, nn.Module model, Ema ema, TrainingContext ctx, double tps, TimeSpan elapsed)
    {
        var modelDir = Path.Combine(RunDir, ModelDirName);
        using (ema.Apply(model))
            AtomicDirectory.Write(modelDir, tmp => _objective.WriteModel(tmp, true, ctx));
        Report(step, double.NaN, double.NaN, tps, elapsed, TimeSpan.Zero, $"final model (EMA weights) written to {modelDir}");
        return modelDir;
    }

    /// <summary>The global gradient norm, after clipping it to <see cref="TrainerOptions.GradClip"/> when that is positive.</summary>
    private double ClipGradients(IList<Parameter> parameters)
    {
        using var _ = no_grad();
        return _opt.GradClip > 0
            ? nn.utils.clip_grad_norm_(parameters, _opt.GradClip)
            : nn.utils.clip_grad_norm_(parameters, double.PositiveInfinity);
    }

    /// <summary>Validation with the EMA weights: recorded as the last validation, appended to the metrics, reported and
    /// plotted.</summary>
    private IReadOnlyDictionary<string, double> ValidateAndRecord(long step, nn.Module model, Ema ema, TrainingContext ctx,
        double stepLoss, double lr, double tps, TimeSpan elapsed, TimeSpan eta)
    {
        var v = Validate(model, ema, ctx);
        _lastValidation = v;
        Metrics.Append(step, "valid", v);
        Report(step, stepLoss, lr, tps, elapsed, eta, $"step {step}: validation " + string.Join(", ", v.Select(kv => $"{kv.Key} {kv.Value:G5}")));
        if (Plot) TryPlot();
        return v;
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

    private TrainingDivergedException Diverged(long step, string what, double lr)
    {
        var healthy = Checkpoints.Healthy();
        long? healthyStep = healthy is null ? null : long.Parse(Path.GetFileName(healthy)["step-".Length..]);
        var advice = healthy is null
            ? "no checkpoint was confirmed healthy; start the run afresh with a lower learning rate"
            : $"the newest healthy checkpoint is {healthy} (step {healthyStep}); continue from it with a lower learning rate";
        return new TrainingDivergedException($"training stopped at step {step}: {what}; {advice}", step, what, healthy, healthyStep, lr);
    }

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

    private string SaveCheckpoint(long step, nn.Module model, Ema ema, BatchSampler sampler, Generator generator,
        DivergenceDetector detector, double loss, string dataId, JsonArray dataChanges) =>
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
                ["loss"] = double.IsFinite(loss) ? loss : null,
                ["train_data"] = dataId,
                ["data_changes"] = dataChanges.DeepClone(),
                ["divergence"] = detector.ToJson(),
                ["written_utc"] = DateTime.UtcNow.ToString("O"),
            };
            ModelFolder.WriteJsonAtomic(Path.Combine(dir, "trainer.json"), info);
            var od = Path.Combine(dir, "objective");
            Directory.CreateDirectory(od);
            _objective.SaveState(od);
        }, _opt.KeepCheckpoints);

    private (long Step, DivergenceDetector Detector) LoadCheckpoint(string dir, nn.Module model, Ema ema, BatchSampler sampler,
        Generator generator, TrainingContext ctx, string dataId, JsonArray dataChanges)
    {
        var infoPath = Path.Combine(dir, "trainer.json");
        if (!File.Exists(infoPath)) throw new SdttException($"{dir}: incomplete checkpoint (no trainer.json)");
        var info = CheckpointFile.Read(infoPath, () => JsonNode.Parse(File.ReadAllText(infoPath))!.AsObject());
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
        if (info["train_data"]?.GetValue<string>() is { } trained && trained != dataId)
        {
            if (!AllowDataChange)
                throw new SdttException($"{dir}: checkpoint was trained on data {Short(trained)}, but {_train.Path} is {Short(dataId)} (same shape, different " +
                                        "content); resume with the same --data, or pass --allow-data-change to continue on this data");
            Report(-1, double.NaN, double.NaN, double.NaN, TimeSpan.Zero, null,
                $"warning: continuing on different training data ({_train.Path}: {Short(dataId)}, the checkpoint's was {Short(trained)}) as --allow-data-change asks");
        }
        foreach (var c in info["data_changes"]?.AsArray() ?? new JsonArray()) dataChanges.Add(c?.DeepClone());
        if (info["train_data"]?.GetValue<string>() is { } t && t != dataId)
            dataChanges.Add(new JsonObject { ["step"] = info["step"]?.GetValue<long>(), ["from"] = t, ["to"] = dataId, ["path"] = Path.GetFullPath(_train.Path) });
        var weights = Path.Combine(dir, "model.safetensors");
        CheckpointFile.Read(weights, () =>
        {
            using var f = new SafeTensorsFile(weights);
            using var _ = no_grad();
            var sd = model.state_dict();
            var missing = sd.Keys.Where(k => !f.Entries.ContainsKey(k)).ToList();
            if (missing.Count > 0) throw new SdttException($"{weights}: lacks {missing.Count} tensors (first: {missing[0]})");
            foreach (var (k, t) in sd)
            {
                using var src = f.Load(k);
                if (!src.shape.SequenceEqual(t.shape)) throw new SdttException($"{weights}: tensor {k} has shape [{string.Join(",", src.shape)}], the model [{string.Join(",", t.shape)}]");
                t.copy_(src);
            }
            return 0;
        });
        var emaPath = Path.Combine(dir, "ema.safetensors");
        CheckpointFile.Read(emaPath, () => { ema.Load(emaPath); return 0; });
        var optPath = Path.Combine(dir, "optimizer.bin");
        CheckpointFile.Read(optPath, () => { _optimizer!.load_state_dict(optPath); return 0; });
        var rngPath = Path.Combine(dir, "rng.safetensors");
        CheckpointFile.Read(rngPath, () =>
        {
            using var f = new SafeTensorsFile(rngPath);
            using var st = f.Load("generator");
            generator.set_state(st);
            return 0;
        });
        var s = info["sampler"]!;
        sampler.Restore(new BatchSamplerState(s["epoch"]!.GetValue<long>(), s["cursor"]!.GetValue<long>(), s["seed"]!.GetValue<int>()));
        var objDir = Path.Combine(dir, "objective");
        CheckpointFile.Read(objDir, () => { _objective.LoadState(objDir); return 0; });
        long step = info["step"]!.GetValue<long>();
        ctx.Step = step;
        return (step, DivergenceDetector.FromJson(info["divergence"]));
    }

    private static string Short(string id) => id.Length > 19 ? id[..19] + "…" : id;
}
