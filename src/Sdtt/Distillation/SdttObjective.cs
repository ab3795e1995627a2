using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.Diffusion;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Sampling;
using Sdtt.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Distillation;

/// <summary>A finished round: its number (1-based), the student's step count and the saved folders.</summary>
/// <param name="Round">Rounds finished (1 = the first round).</param>
/// <param name="TeacherSteps">Steps of that round's teacher.</param>
/// <param name="StudentSteps">Steps the student of that round is meant for.</param>
/// <param name="GlobalStep">Optimizer steps done when the round ended.</param>
/// <param name="Dir">The round folder (holding <c>ema/</c> and <c>raw/</c>).</param>
public sealed record FinishedRound(int Round, int TeacherSteps, int StudentSteps, long GlobalStep, string Dir)
{
    /// <summary>The EMA model folder.</summary>
    public string EmaDir => Path.Combine(Dir, "ema");
    /// <summary>The raw-weights model folder.</summary>
    public string RawDir => Path.Combine(Dir, "raw");
}

/// <summary>SDTT as a <see cref="ITrainingObjective"/> (reference D): per micro-batch, t from the lattice sampler
/// (ε = 1e-5), x_t ~ q(x_t | x0), teacher targets from k ancestral sub-steps of the round's dt (eval mode, no grad,
/// masked rows only), one student forward at x_t in training mode, divergence averaged over masked rows.
/// At the start of a step whose global step is a positive multiple of the round length, the finished round is saved
/// (<c>ROUNDS/round-{n}-steps-{student steps}/{ema,raw}</c>) and the teacher becomes a copy of the raw student; the
/// optimizer, LR schedule and EMA continue unless the options say otherwise. Teacher weights and the round are part of
/// the checkpoint, so a resumed run continues exactly.</summary>
public sealed class SdttObjective : ITrainingObjective
{
    private const string TeacherFile = "teacher.safetensors";
    private const string StateFile = "sdtt_state.json";

    private readonly Dit _student;
    private readonly Dit _teacher;
    private readonly LogLinearSchedule _noise = new();
    private readonly bool _ownsModels;
    private int _round;

    /// <summary>The round schedule.</summary>
    public SdttSchedule Schedule { get; }
    /// <summary>Loss, grid and growth options.</summary>
    public SdttOptions Options { get; }
    /// <summary>Folder receiving the finished rounds (null = rounds are not saved).</summary>
    public string? RoundsDir { get; }
    /// <summary>The student (the optimised model).</summary>
    public Dit Student => _student;
    /// <summary>The current teacher.</summary>
    public Dit Teacher => _teacher;
    /// <summary>The current round (0-based).</summary>
    public int Round => _round;
    /// <summary>The current teacher step size.</summary>
    public double Dt => Schedule.Dt(_round);
    /// <summary>Called after a round's folders are written (e.g. a quick evaluation of the new student).</summary>
    public Action<FinishedRound, TrainingContext?>? RoundFinished { get; set; }

    /// <summary>Distils <paramref name="teacher"/> into <paramref name="student"/> (usually a copy of the teacher).
    /// The teacher is put in eval mode and frozen.</summary>
    public SdttObjective(Dit student, Dit teacher, SdttSchedule schedule, SdttOptions? options = null, string? roundsDir = null, bool ownsModels = false)
    {
        if (student.Config with { Dropout = 0 } != teacher.Config with { Dropout = 0 })
            throw new SdttException("the student and the teacher must have the same shape");
        _student = student;
        _teacher = teacher;
        Schedule = schedule.Validate();
        Options = options ?? new SdttOptions();
        RoundsDir = roundsDir;
        _ownsModels = ownsModels;
        _teacher.eval();
        foreach (var p in _teacher.parameters()) p.requires_grad = false;
    }

    /// <inheritdoc />
    public string Name => "sdtt";
    /// <inheritdoc />
    public nn.Module Model => _student;

    /// <summary>Distillation loss of one micro-batch of clean tokens [B, L]; every random number comes from
    /// <paramref name="generator"/> in the reference's order (t, mask, sub-step uniforms); dropout uses the global generator.</summary>
    public Tensor Loss(Tensor x0, Generator generator, Action<string, double>? metric = null)
    {
        using var scope = NewDisposeScope();
        int b = (int)x0.shape[0];
        var t = TimeSampler.Sample(b, Options.TimeEps, TimeSampling.Lattice, x0.device, generator);
        var xt = ForwardProcess.Mask(x0, _noise.MoveChance(t), _student.MaskIndex, generator);
        using var targets = TeacherTargets.Compute(_teacher, xt, t, Dt, new GeneratorSource(generator), _noise, Options.Targets(Schedule.K));
        var loss = DistillationLoss.Compute(_student, xt, targets, Options.Loss, Options.LossFloat64);
        if (metric is not null)
        {
            metric("masked_frac", targets.Count / (double)x0.numel());
            metric("round", _round + 1);
            metric("student_steps", Schedule.StudentStepsAt(_round));
        }
        return loss.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public Tensor Loss(Tensor batch, TrainingContext ctx) => Loss(batch, ctx.Generator, ctx.AddMetric);

    /// <inheritdoc />
    public void OnStepStart(TrainingContext ctx)
    {
        if (!Schedule.IsTransition(ctx.Step)) return;
        int next = Schedule.RoundAt(ctx.Step);
        if (next <= _round) return; // already done (this step's other micro-batches, or a resumed run past the transition)
        if (ctx.IsWriter) FinishRound(ctx.Step, ctx.Ema, ctx); // data-parallel: rank 0 alone writes the round folders
        if (Options.UseEmaOnGrowth)
        {
            ctx.Ema.CopyTo(_student);
            ctx.Ema.Reset(_student);
        }
        CopyStudentToTeacher();
        if (Options.ResetOptimizerOnGrowth) ctx.ResetOptimizer();
        _round = next;
        ctx.Log($"round {_round + 1}/{Schedule.Rounds}: teacher {Schedule.TeacherStepsAt(_round)} steps (dt {Dt:G6}) → student {Schedule.StudentStepsAt(_round)} steps");
    }

    /// <summary>Saves the round that ends now (raw weights from the student, EMA from <paramref name="ema"/>) and notifies
    /// <see cref="RoundFinished"/>. Called by <see cref="OnStepStart"/> at transitions.</summary>
    public FinishedRound? FinishRound(long globalStep, Ema? ema, TrainingContext? ctx = null)
    {
        var info = CurrentRoundInfo(globalStep);
        if (info is null) return null;
        // A run that stopped exactly at this boundary has already saved and reported the round (FinishFinalRound).
        if (IsSaved(info.RawDir, globalStep) && IsSaved(info.EmaDir, globalStep)) return info;
        SaveRoundFolder(info, "raw", null);
        if (ema is not null) SaveRoundFolder(info, "ema", ema.NamedShadows(_student));
        RoundFinished?.Invoke(info, ctx);
        return info;
    }

    /// <summary>Completes the last round after <see cref="Trainer.Run"/> returned at the end of the schedule: its EMA folder
    /// was written by <see cref="WriteModel"/> (the trainer swaps the EMA in for it); this writes the raw folder from the
    /// student's (raw) weights and notifies <see cref="RoundFinished"/>. Returns null if the run did not end on a round boundary.</summary>
    public FinishedRound? FinishFinalRound(long globalStep)
    {
        if (globalStep <= 0 || globalStep % Schedule.StepsPerRound != 0 || globalStep / Schedule.StepsPerRound != _round + 1) return null;
        var info = CurrentRoundInfo(globalStep);
        if (info is null) return null;
        SaveRoundFolder(info, "raw", null);
        RoundFinished?.Invoke(info, null);
        return info;
    }

    private static bool IsSaved(string dir, long globalStep)
    {
        try
        {
            if (!File.Exists(Path.Combine(dir, ModelFolder.WeightsFile))) return false;
            return ModelFolder.ReadConfigJson(dir)["sdtt"]?["global_step"]?.GetValue<long>() == globalStep;
        }
        catch (Exception e) when (e is SdttException or InvalidOperationException or FormatException) { return false; }
    }

    private FinishedRound? CurrentRoundInfo(long globalStep)
    {
        if (RoundsDir is null) return null;
        int r = _round;
        return new FinishedRound(r + 1, Schedule.TeacherStepsAt(r), Schedule.StudentStepsAt(r), globalStep,
            Path.Combine(RoundsDir, Schedule.RoundFolderName(r + 1)));
    }

    private void SaveRoundFolder(FinishedRound info, string weights, IReadOnlyDictionary<string, Tensor>? overrideWeights)
    {
        var extra = new JsonObject
        {
            ["objective"] = Name, ["round"] = info.Round, ["teacher_steps"] = info.TeacherSteps, ["student_steps"] = info.StudentSteps,
            ["dt"] = Schedule.Dt(info.Round - 1), ["k"] = Schedule.K, ["divergence"] = Divergence.Name(Options.Loss),
            ["grid"] = TeacherTimeGrid.Name(Options.Grid), ["global_step"] = info.GlobalStep, ["weights"] = weights,
        };
        Dictionary<string, Tensor>? sd = null;
        if (overrideWeights is not null)
        {
            // EMA shadows cover the trainable parameters; buffers (rotary inv_freq) come from the model.
            sd = _student.state_dict().ToDictionary(kv => kv.Key, kv => overrideWeights.TryGetValue(kv.Key, out var w) ? w : kv.Value);
        }
        AtomicDirectory.Write(weights == "ema" ? info.EmaDir : info.RawDir, tmp => ModelFolder.SaveDit(tmp, _student, extra, sd));
    }

    /// <summary>Teacher ← raw student weights.</summary>
    public void CopyStudentToTeacher()
    {
        using var _ = no_grad();
        var src = _student.state_dict();
        foreach (var (k, t) in _teacher.state_dict()) t.copy_(src[k]);
        _teacher.eval();
    }

    /// <inheritdoc />
    public IReadOnlyDictionary<string, double> Validate(TokenDataset valid, TrainingContext ctx)
    {
        var o = ctx.Options;
        using var gen = new Generator((ulong)o.ValSeed, ctx.Device);
        double sum = 0;
        long batches = SplitBatches.ForEach(valid, o.MicroBatch, o.ValBatches, ctx.Device, (_, x0) => sum += Loss(x0, gen).item<float>());
        return new Dictionary<string, double>
        {
            ["distill_loss"] = sum / Math.Max(1, batches), ["round"] = _round + 1, ["student_steps"] = Schedule.StudentStepsAt(_round),
        };
    }

    /// <inheritdoc />
    public void SaveState(string dir)
    {
        SafeTensorsWriter.Write(Path.Combine(dir, TeacherFile), _teacher.state_dict());
        ModelFolder.WriteJsonAtomic(Path.Combine(dir, StateFile), new JsonObject
        {
            ["round"] = _round, ["dt"] = Dt, ["schedule"] = SdttScheduleJson.ToJson(Schedule), ["options"] = Options.ToJson(),
        });
    }

    /// <inheritdoc />
    public void LoadState(string dir)
    {
        var statePath = Path.Combine(dir, StateFile);
        var teacherPath = Path.Combine(dir, TeacherFile);
        if (!File.Exists(statePath) || !File.Exists(teacherPath)) throw new SdttException($"{dir}: not an SDTT checkpoint (no {StateFile} / {TeacherFile})");
        var state = JsonNode.Parse(File.ReadAllText(statePath))!.AsObject();
        var saved = SdttScheduleJson.FromJson(state["schedule"]!.AsObject(), statePath);
        if (saved with { MaxRounds = Schedule.MaxRounds } != Schedule)
            throw new SdttException($"{statePath}: the checkpoint's round schedule differs from this run's; resume with the same --teacher-steps, --k and --steps-per-round");
        _round = state["round"]!.GetValue<int>();
        using var f = new SafeTensorsFile(teacherPath);
        using var _ = no_grad();
        foreach (var (k, t) in _teacher.state_dict())
        {
            if (!f.Entries.ContainsKey(k)) throw new SdttException($"{teacherPath}: missing tensor {k}");
            using var src = f.Load(k);
            t.copy_(src);
        }
        _teacher.eval();
    }

    /// <inheritdoc />
    public void WriteModel(string dir, bool ema, TrainingContext ctx)
    {
        ModelFolder.SaveDit(dir, _student, new JsonObject
        {
            ["objective"] = Name, ["round"] = _round + 1, ["student_steps"] = Schedule.StudentStepsAt(_round),
            ["global_step"] = ctx.Step, ["weights"] = ema ? "ema" : "raw", ["divergence"] = Divergence.Name(Options.Loss),
        });
        // At the end of the last round the trainer calls this with the EMA swapped in: that is the round's EMA folder.
        bool roundEnd = ctx.Step > 0 && ctx.Step % Schedule.StepsPerRound == 0 && ctx.Step / Schedule.StepsPerRound == _round + 1;
        if (roundEnd && CurrentRoundInfo(ctx.Step) is { } info)
            SaveRoundFolder(info, ema ? "ema" : "raw", null);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!_ownsModels) return;
        _student.Dispose();
        _teacher.Dispose();
    }

    /// <summary>Uniforms [N, V] from the trainer's generator (on its device).</summary>
    private sealed class GeneratorSource(Generator generator) : IUniformSource
    {
        public Tensor Draw(Tensor rows, long batch, long length, long vocab, ScalarType dtype, Device device) =>
            rand(new[] { rows.shape[0], vocab }, dtype: dtype, device: device, generator: generator);
    }
}
