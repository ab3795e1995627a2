namespace Sdtt.Sampling;

/// <summary>Everything a diffusion sampler run needs besides the model. Defaults reproduce the reference sampler
/// (<c>sample(n_samples, num_steps, seq_len, project_fn)</c>) except for the float64 categorical draw.</summary>
public sealed record SamplingOptions
{
    /// <summary>Number of ancestral steps N (≥ 1).</summary>
    public int Steps { get; init; } = 128;
    /// <summary>Batch size B (≥ 1).</summary>
    public int NumSamples { get; init; } = 1;
    /// <summary>Sequence length L (≥ 1). 0 means the model's own length (a <see cref="Models.Dit"/>'s ModelLength).</summary>
    public int SeqLen { get; init; }
    /// <summary>Seed of the default uniform source (ignored when <see cref="Uniforms"/> is given).</summary>
    public long Seed { get; init; }
    /// <summary>Reuse the network output of the previous step when no token changed in it (exact; only for models that
    /// are not time-conditioned — otherwise the sampler calls the network every step).</summary>
    public bool Cached { get; init; }
    /// <summary>Precision of the exponential race (float64 default; float32 is the reference).</summary>
    public CategoricalPrecision Precision { get; init; } = CategoricalPrecision.Float64;
    /// <summary>Temperature T &gt; 0: log-probs are divided by T and renormalised over real tokens before the kernel.
    /// T = 1 leaves them untouched (exactly the reference).</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Nucleus threshold in (0, 1]: per position keep the most likely tokens until their cumulative probability
    /// exceeds P (the first is always kept), renormalise. 1 = off.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>End of the time grid ε (ts = linspace(1, ε, N+1) in float32, dt = (1 − ε)/N).</summary>
    public double GridEps { get; init; } = 1e-5;
    /// <summary>Token ids written into positions [0, len) of every sample (the reference README prompt; include BOS
    /// yourself if wanted). Null = no prompt.</summary>
    public IReadOnlyList<long>? Prompt { get; init; }
    /// <summary>Fixed tokens at arbitrary positions (infilling); merged with <see cref="Prompt"/>.</summary>
    public TokenConstraint? Constraint { get; init; }
    /// <summary>Write <see cref="BosToken"/> at the first position of the prior.</summary>
    public bool AddBos { get; init; }
    /// <summary>Write <see cref="BosToken"/> (GPT-2 uses one id for BOS and EOS) at the last position of the prior.</summary>
    public bool AddEos { get; init; }
    /// <summary>Id written by <see cref="AddBos"/>/<see cref="AddEos"/> (GPT-2: 50256).</summary>
    public long BosToken { get; init; } = 50256;
    /// <summary>Masked rows processed at a time (logits → SUBS → kernel → race); bounds the temporaries at a few
    /// ChunkRows·V·8-byte tensors. 0 (default) = automatic: <see cref="AutoChunkElements"/>/V rows (20 for GPT-2),
    /// small enough that the allocator reuses memory instead of mapping fresh pages. Results do not depend on it.</summary>
    public int ChunkRows { get; init; }

    /// <summary>Elements per chunk of the automatic <see cref="ChunkRows"/> (2^20).</summary>
    public const int AutoChunkElements = 1 << 20;
    /// <summary>Cached sampler: the most bytes of float32 log-probs kept between steps. Above it the final hidden states
    /// are kept instead and the output layer is recomputed (still exact, saves the transformer trunk only).</summary>
    public long CacheBudgetBytes { get; init; } = 1L << 30;
    /// <summary>Source of uniforms; null = a <see cref="XoshiroUniformSource"/> seeded with <see cref="Seed"/>.
    /// One <see cref="IUniformSource.BeginStep"/> per step (also for cached steps and steps with nothing masked).</summary>
    public IUniformSource? Uniforms { get; init; }
    /// <summary>Called after the prior (step −1), after every step and after the fill; for streaming and progress.</summary>
    public Action<SamplingStep>? OnStep { get; init; }
    /// <summary>Checked before every step; cancels the whole run (<see cref="OperationCanceledException"/>).</summary>
    public CancellationToken Cancellation { get; init; }
    /// <summary>Per-sample seeds, temperature, top-p, prompt and cancellation (serving); when given, NumSamples must
    /// equal its count and <see cref="Seed"/>, <see cref="Temperature"/>, <see cref="TopP"/> and <see cref="Prompt"/>
    /// are ignored. Only the <c>reveal-first</c> sampler supports it.</summary>
    public IReadOnlyList<SampleSettings>? PerSample { get; init; }

    /// <summary>Checks what needs no model: temperature, top-p, ε and the chunk size (one-line <see cref="SdttException"/>s,
    /// each naming the setting as <paramref name="prefix"/> + its option name, e.g. "--top-p"). The samplers call it; a
    /// command calls it with "--" before it loads a model.</summary>
    public SamplingOptions CheckSettings(string prefix = "")
    {
        static string G(double x) => x.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (!(Temperature > 0) || double.IsInfinity(Temperature)) throw new SdttException($"{prefix}temperature must be a positive number (got {G(Temperature)})");
        if (!(TopP > 0 && TopP <= 1)) throw new SdttException($"{prefix}top-p must be in (0, 1] (got {G(TopP)})");
        if (!(GridEps > 0 && GridEps < 1)) throw new SdttException($"{prefix}grid-eps must be in (0, 1) (got {G(GridEps)})");
        if (ChunkRows < 0) throw new SdttException($"{prefix}chunk-rows must be ≥ 0 (0 = automatic; got {ChunkRows})");
        return this;
    }
}
