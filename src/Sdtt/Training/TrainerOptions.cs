namespace Sdtt.Training;

/// <summary>Options of the shared trainer. Defaults are the reference's (MDLM / SDTT code): AdamW lr 3e-4, betas
/// (0.9, 0.999), eps 1e-8, no weight decay, linear warm-up then constant, grad-norm clip 1.0, EMA 0.9999.
/// In JSON the names are snake_case (<c>max_steps</c>, <c>micro_batch</c>, …).</summary>
public sealed record TrainerOptions
{
    /// <summary>Peak learning rate.</summary>
    public double Lr { get; init; } = 3e-4;
    /// <summary>Adam β1.</summary>
    public double Beta1 { get; init; } = 0.9;
    /// <summary>Adam β2.</summary>
    public double Beta2 { get; init; } = 0.999;
    /// <summary>Adam ε, added to the denominator of the update (JSON key <c>eps</c>, as in earlier config files).</summary>
    [System.Text.Json.Serialization.JsonPropertyName("eps")]
    public double AdamEps { get; init; } = 1e-8;
    /// <summary>Decoupled weight decay (0 = Adam).</summary>
    public double WeightDecay { get; init; } = 0;
    /// <summary>Linear warm-up steps: the LR factor of optimizer step n (0-based) is min(1, n / warmup) (step 0 → 0, as
    /// transformers' get_constant_schedule_with_warmup). 0 = no warm-up.</summary>
    public int WarmupSteps { get; init; } = 2500;
    /// <summary>Optimizer steps to run in total.</summary>
    public long MaxSteps { get; init; } = 1000;
    /// <summary>Sequences per forward/backward pass.</summary>
    public int MicroBatch { get; init; } = 8;
    /// <summary>Sequences per optimizer step (a multiple of <see cref="MicroBatch"/>; accumulation = global / micro).</summary>
    public int GlobalBatch { get; init; } = 8;
    /// <summary>Total gradient-norm clip (0 = off).</summary>
    public double GradClip { get; init; } = 1.0;
    /// <summary>EMA decay; the effective decay of update n is min(decay, (1+n)/(10+n)).</summary>
    public double EmaDecay { get; init; } = 0.9999;
    /// <summary>bfloat16 compute in linear layers and attention (the model's Precision), fp32 master weights.</summary>
    public bool Bf16 { get; init; }
    /// <summary>Seed of the data order, the noise generator and (per step) the global generator used by dropout.</summary>
    public long Seed { get; init; } = 1;
    /// <summary>Validate with EMA weights every N optimizer steps (and at the end); 0 = only at the end.</summary>
    public long EvalEvery { get; init; } = 500;
    /// <summary>Write a checkpoint every N optimizer steps (and at the end); 0 = only at the end.</summary>
    public long CheckpointEvery { get; init; } = 500;
    /// <summary>Keep the newest k step checkpoints (the one <c>last</c> points to is always kept).</summary>
    public int KeepCheckpoints { get; init; } = 2;
    /// <summary>Validation batches (of <see cref="MicroBatch"/> sequences); 0 = the whole validation split.</summary>
    public int ValBatches { get; init; } = 8;
    /// <summary>Seed of the validation noise (fixed, so evaluations are comparable).</summary>
    public long ValSeed { get; init; } = 1234;
    /// <summary>Write a training-metrics line every N optimizer steps.</summary>
    public long LogEvery { get; init; } = 10;
    /// <summary>Intra-op CPU threads (0 = leave libtorch's default).</summary>
    public int Threads { get; init; }
    /// <summary>Device name: cpu, cuda, cuda:N or auto.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Micro-batches per optimizer step.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public int Accumulation => GlobalBatch / MicroBatch;

    /// <summary>The LR multiplier of optimizer step <paramref name="step"/> (0-based): min(1, step / warmup).</summary>
    public double LrFactor(long step) => WarmupSteps <= 0 ? 1.0 : Math.Min(1.0, (double)step / WarmupSteps);

    /// <summary>Checks the options; throws <see cref="SdttException"/> naming the bad field.</summary>
    public TrainerOptions Validate()
    {
        void Fail(string field, string why) => throw new SdttException($"invalid trainer option {field}: {why}");
        if (!(Lr > 0)) Fail("lr", "must be positive");
        if (Beta1 is < 0 or >= 1) Fail("beta1", "must be in [0, 1)");
        if (Beta2 is < 0 or >= 1) Fail("beta2", "must be in [0, 1)");
        if (!(AdamEps > 0)) Fail("eps", "must be positive");
        if (WeightDecay < 0) Fail("weight_decay", "must be ≥ 0");
        if (WarmupSteps < 0) Fail("warmup_steps", "must be ≥ 0");
        if (MaxSteps <= 0) Fail("max_steps", "must be positive");
        if (MicroBatch <= 0) Fail("micro_batch", "must be positive");
        if (GlobalBatch <= 0 || GlobalBatch % MicroBatch != 0) Fail("global_batch", $"{GlobalBatch} must be a positive multiple of micro_batch {MicroBatch}");
        if (GradClip < 0) Fail("grad_clip", "must be ≥ 0");
        if (EmaDecay is < 0 or >= 1) Fail("ema_decay", "must be in [0, 1)");
        if (EvalEvery < 0) Fail("eval_every", "must be ≥ 0");
        if (CheckpointEvery < 0) Fail("checkpoint_every", "must be ≥ 0");
        if (KeepCheckpoints < 1) Fail("keep_checkpoints", "must be ≥ 1");
        if (ValBatches < 0) Fail("val_batches", "must be ≥ 0");
        if (LogEvery <= 0) Fail("log_every", "must be positive");
        if (Threads < 0) Fail("threads", "must be ≥ 0");
        return this;
    }
}

/// <summary>One progress report of the trainer (every optimizer step, and at validation).</summary>
/// <param name="Step">Optimizer steps completed.</param>
/// <param name="MaxSteps">Steps of the whole run.</param>
/// <param name="Loss">Mean training loss of the last step.</param>
/// <param name="LearningRate">LR used by the last step.</param>
/// <param name="TokensPerSecond">Training throughput since this invocation started.</param>
/// <param name="Elapsed">Wall time of this invocation.</param>
/// <param name="Eta">Estimated time to <paramref name="MaxSteps"/>.</param>
/// <param name="Validation">The latest validation metrics (null before the first evaluation).</param>
/// <param name="Message">A one-line event (validation result, checkpoint written), or null.</param>
public sealed record TrainingProgress(long Step, long MaxSteps, double Loss, double LearningRate, double TokensPerSecond,
    TimeSpan Elapsed, TimeSpan? Eta, IReadOnlyDictionary<string, double>? Validation, string? Message);

/// <summary>What <see cref="Trainer.Run"/> returns.</summary>
/// <param name="StartStep">Step the invocation started from (0, or the resumed checkpoint's step).</param>
/// <param name="FinalStep">Steps completed at the end.</param>
/// <param name="StepLosses">Training loss of each optimizer step this invocation ran, in order (step StartStep+1 first).</param>
/// <param name="Validations">Validation results of this invocation by step.</param>
/// <param name="TokensPerSecond">Mean training throughput (tokens of optimizer steps / training wall time, validation excluded).</param>
/// <param name="ModelDir">The final model folder, or null when none was written.</param>
public sealed record TrainingResult(long StartStep, long FinalStep, IReadOnlyList<double> StepLosses,
    IReadOnlyList<(long Step, IReadOnlyDictionary<string, double> Metrics)> Validations, double TokensPerSecond, string? ModelDir);

/// <summary>Training stopped because it diverged: the loss or gradient norm became NaN or infinite, or rose far above its
/// running level (<see cref="DivergenceDetector"/>).</summary>
public sealed class TrainingDivergedException : SdttException
{
    /// <summary>The optimizer step (1-based) that diverged.</summary>
    public long Step { get; }
    /// <summary>What diverged ("loss is NaN", "loss 6.6E+11 is above 10 × its running level 10.4").</summary>
    public string Reason { get; } = "";
    /// <summary>The newest checkpoint the run confirmed healthy (a later step found its weights sound), or null.</summary>
    public string? HealthyCheckpoint { get; }
    /// <summary>The step of <see cref="HealthyCheckpoint"/>, or null.</summary>
    public long? HealthyStep { get; }
    /// <summary>The learning rate of the diverged step.</summary>
    public double LearningRate { get; }

    /// <summary>Creates the exception.</summary>
    public TrainingDivergedException(string message, long step) : base(message) => Step = step;

    /// <summary>Creates the exception with the recovery facts.</summary>
    public TrainingDivergedException(string message, long step, string reason, string? healthyCheckpoint, long? healthyStep, double learningRate)
        : base(message)
    {
        Step = step;
        Reason = reason;
        HealthyCheckpoint = healthyCheckpoint;
        HealthyStep = healthyStep;
        LearningRate = learningRate;
    }

    /// <summary>The learning rate to suggest for the recovery: a tenth of the diverged run's, at most 3e-4 (the reference
    /// MDLM rate), so a run started with an absurd rate is pointed at a sane one in one go.</summary>
    public double SuggestedLearningRate => Math.Min(LearningRate > 0 ? LearningRate / 10 : 3e-4, 3e-4);
}
