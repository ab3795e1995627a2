using System.Diagnostics;
using Sdtt.Diffusion;
using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>The ancestral (DDPM) sampler of masked diffusion (reference C.1–C.6, sdtt <c>MultiRoundSDTT.sample</c>).
/// Grid ts = linspace(1, ε, N+1) in float32, dt = (1 − ε)/N; step i uses t = ts[i], s = t − dt, and a masked token stays
/// masked with probability m_s/m_t (= s/t) or takes token v with probability p_θ(v)·(m_t − m_s)/m_t (exponential race,
/// <see cref="AncestralStep"/>). Any mask left after the N steps is filled greedily at t = ε. Prompts and fixed tokens are
/// written into the prior, after every step and after the fill.
/// <para>Work is done only at masked positions, in chunks of <see cref="SamplingOptions.ChunkRows"/> rows (output layer →
/// SUBS → temperature/top-p → kernel → race), so B×L×V is never materialised.</para>
/// <para>Network calls: the uncached sampler calls the network once in every step that starts with at least one masked
/// position (i.e. every step, unless everything is fixed/revealed already), plus once for the fill when masks remain
/// after step N. With <see cref="SamplingOptions.Cached"/> (model not time-conditioned) a step reuses the last network
/// output when no token changed since that call; the fill likewise. The cached and uncached samplers consume the same
/// uniforms (one <see cref="IUniformSource.BeginStep"/> per step) and return identical tokens.</para></summary>
public sealed class AncestralSampler : ISampler
{
    private readonly LogLinearSchedule _schedule;

    /// <summary>A sampler using <paramref name="schedule"/> (default: log-linear with ε = 1e-3, the reference).</summary>
    public AncestralSampler(LogLinearSchedule? schedule = null) => _schedule = schedule ?? new LogLinearSchedule();

    /// <summary>The float32 time grid linspace(1, ε, N+1) (CPU).</summary>
    public static Tensor TimeGrid(int steps, double eps = 1e-5) => AncestralScheduler.TimeGrid(steps, eps);

    /// <summary>dt = (1 − ε)/N as a double (rounded to float32 where it is subtracted).</summary>
    public static double StepSize(int steps, double eps = 1e-5) => AncestralScheduler.StepSize(steps, eps);

    /// <inheritdoc />
    public SamplingResult Sample(IDenoiser model, SamplingOptions options)
    {
        if (options.PerSample is not null) throw new SdttException($"per-sample settings need the '{SamplerRegistry.RevealFirst}' sampler");
        var o = Validate(model, options);
        int b = o.NumSamples, l = o.SeqLen, n = o.Steps;
        int v = model.VocabSize, mask = model.MaskIndex;
        var device = model.Device;
        var dtype = o.Precision == CategoricalPrecision.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        bool cached = o.Cached && !model.TimeConditioned;
        var constraint = (o.Prompt is { Count: > 0 } ? TokenConstraint.Prefix(o.Prompt) : null) is { } pc
            ? (o.Constraint is null ? pc : pc.Merge(o.Constraint)) : o.Constraint;
        constraint?.Validate(b, l, v, mask);

        IUniformSource uniforms = o.Uniforms ?? new XoshiroUniformSource(o.Seed);
        var watch = Stopwatch.StartNew();
        using var run = new Run(model, o, cached, uniforms, dtype);
        using var outer = NewDisposeScope();
        using var noGrad = no_grad();
        var ts = TimeGrid(n, o.GridEps);
        double dt = StepSize(n, o.GridEps);
        if (constraint is not null) (run.FixedMask, run.FixedTokens) = constraint.ToTensors(b, l, device);

        // Prior: all MASK, BOS/EOS written once, then the projection.
        var x = full(b, l, (long)mask, dtype: ScalarType.Int64, device: device);
        if (o.AddBos) x[.., 0] = o.BosToken;
        if (o.AddEos) x[.., l - 1] = o.BosToken;
        x = run.Project(x);
        Report(o, -1, n, 1.0, x, mask, false, false, watch);

        for (int i = 0; i < n; i++)
        {
            o.Cancellation.ThrowIfCancellationRequested();
            using var stepScope = NewDisposeScope();
            var st = AncestralScheduler.At(ts[i].reshape(1), dt, _schedule);
            x = Adopt(outer, x, Step(run, x, st, Sigma(model, st.T, b, device), out bool called));
            Report(o, i, n, ts[i].item<float>(), x, mask, called, false, watch);
        }

        // Greedy fill of masks left at t = ε.
        bool fillApplied = false;
        {
            using var fillScope = NewDisposeScope();
            if (Fill(run, x, Sigma(model, ts[n].reshape(1), b, device), out bool called) is { } filled)
            {
                fillApplied = true;
                x = Adopt(outer, x, filled);
                Report(o, n, n, ts[n].item<float>(), x, mask, called, true, watch);
            }
        }

        var result = x.cpu();
        var data = result.data<long>().ToArray();
        var tokens = new long[b][];
        for (int i = 0; i < b; i++) tokens[i] = data.AsSpan(i * l, l).ToArray();
        watch.Stop();
        return new SamplingResult(tokens, run.Calls, n, fillApplied, watch.Elapsed) { RowsProjected = run.Projected };
    }

    /// <summary>What one sampling run carries from step to step: the model and options, the fixed positions, the uniform
    /// source, the network-output cache and the counters.</summary>
    private sealed class Run(IDenoiser model, SamplingOptions options, bool cached, IUniformSource uniforms, ScalarType dtype) : IDisposable
    {
        public IDenoiser Model { get; } = model;
        public SamplingOptions Options { get; } = options;
        public bool Cached { get; } = cached;
        public IUniformSource Uniforms { get; } = uniforms;
        public ScalarType Dtype { get; } = dtype;
        public StepCache Cache { get; } = new();
        public Tensor? FixedMask { get; set; }
        public Tensor? FixedTokens { get; set; }
        public int Calls { get; set; }
        public long Projected { get; set; }

        /// <summary>Writes the fixed tokens (prompt, constraint) over <paramref name="x"/>.</summary>
        public Tensor Project(Tensor x) => FixedMask is null ? x : where(FixedMask, FixedTokens!, x);

        /// <summary>The scorer of this step: a fresh network call, or null when the cached output is still valid.</summary>
        public IMaskedRowScores? Evaluate(Tensor x, Tensor rows, long count, Tensor? sigma)
        {
            if (Cached && Cache.Valid) return null;
            var scorer = Model.ScoreMaskedRows(x, rows, sigma);
            Calls++;
            Projected += count;
            return scorer;
        }

        public void Dispose() => Cache.Dispose();
    }

    /// <summary>One ancestral step from t to s: every masked row runs the race (stay masked or take a token); the fixed
    /// positions are written back. Returns the new tokens (or <paramref name="x"/> when nothing was masked).</summary>
    private static Tensor Step(Run run, Tensor x, AncestralStepTimes st, Tensor? sigma, out bool called)
    {
        var o = run.Options;
        int b = (int)x.shape[0], l = (int)x.shape[1], v = run.Model.VocabSize, mask = run.Model.MaskIndex;
        var stepU = run.Uniforms.BeginStep(b, l, v, run.Dtype, x.device);
        var rows = x.reshape(-1).eq(mask).nonzero().squeeze(-1);
        long count = rows.shape[0];
        called = false;
        if (count == 0) return x;
        if (!(run.Cached && run.Cache.Valid)) run.Cache.Clear();
        var scorer = run.Evaluate(x, rows, count, sigma);
        called = scorer is not null;
        if (run.Cached && scorer is not null) run.Cache.Reset(scorer, count * (long)v * 4 <= o.CacheBudgetBytes && scorer.RecomputesRows);
        try
        {
            var z = SampleChunks(scorer, run.Cache, rows, count, o, stepU, st.MoveT, st.MoveS, mask, v);
            if (z.ne(mask).any().item<bool>()) run.Cache.Clear(); // a token changed: the next step needs a fresh call
            var flat = x.reshape(-1).clone();
            flat.index_copy_(0, rows, z);
            return run.Project(flat.reshape(b, l));
        }
        finally
        {
            if (!run.Cached) scorer?.Dispose();
        }
    }

    /// <summary>The greedy fill at t = ε of the masks left after the last step (argmax of p_θ over real tokens), or null
    /// when none is left.</summary>
    private static Tensor? Fill(Run run, Tensor x, Tensor? sigma, out bool called)
    {
        var o = run.Options;
        int b = (int)x.shape[0], l = (int)x.shape[1], mask = run.Model.MaskIndex;
        var rows = x.reshape(-1).eq(mask).nonzero().squeeze(-1);
        long count = rows.shape[0];
        called = false;
        if (count == 0) return null;
        using var scorer = run.Evaluate(x, rows, count, sigma);
        called = scorer is not null;
        var z = MapChunks(scorer, run.Cache, rows, count, o.ChunkRows, offer: false, (logp, _) => AncestralStep.GreedyRows(logp, mask));
        var flat = x.reshape(-1).clone();
        flat.index_copy_(0, rows, z);
        return run.Project(flat.reshape(b, l));
    }

    /// <summary>Moves <paramref name="next"/> into the run's scope and frees <paramref name="x"/> (unless they are the same).</summary>
    private static Tensor Adopt(TorchSharp.DisposeScope outer, Tensor x, Tensor next)
    {
        if (ReferenceEquals(next, x)) return x;
        x.DetachFromDisposeScope();
        x.Dispose();
        next.DetachFromDisposeScope();
        outer.Attach(next);
        return next;
    }

    /// <summary>z for every masked row, chunk by chunk: log-probs (fresh or cached) → shaping → kernel → race.</summary>
    private static Tensor SampleChunks(IMaskedRowScores? scorer, StepCache cache, Tensor rows, long count, SamplingOptions o,
        IStepUniforms stepU, Tensor mT, Tensor mS, int mask, int v) =>
        MapChunks(scorer, cache, rows, count, o.ChunkRows, offer: true, (logp, r) =>
            AncestralStep.SampleRows(ProbabilityShaping.Apply(logp, o.Temperature, o.TopP, mask), mT, mS, stepU.Draw(r), mask, o.Precision));

    /// <summary>The one chunk loop of the reference sampler: per chunk of masked rows, log-probs fresh from
    /// <paramref name="scorer"/> (offered to <paramref name="cache"/> when <paramref name="offer"/>) or from the cache, then
    /// <paramref name="draw"/>(log-probs, rows) → tokens; the chunks' tokens concatenated in row order.</summary>
    private static Tensor MapChunks(IMaskedRowScores? scorer, StepCache cache, Tensor rows, long count, int chunkRows, bool offer,
        Func<Tensor, Tensor, Tensor> draw)
    {
        using var scope = NewDisposeScope();
        var zs = new List<Tensor>();
        int chunk = 0;
        for (long start = 0; start < count; start += chunkRows, chunk++)
        {
            using var cs = NewDisposeScope();
            long c = Math.Min(chunkRows, count - start);
            var r = rows.narrow(0, start, c);
            Tensor logp;
            if (scorer is not null)
            {
                logp = scorer.Score(r, start, c);
                if (offer) cache.Offer(chunk, logp);
            }
            else logp = cache.Get(chunk, r, start, c);
            zs.Add(draw(logp, r).MoveToOuterDisposeScope());
        }
        return cat(zs).MoveToOuterDisposeScope();
    }

    private Tensor? Sigma(IDenoiser model, Tensor t, int b, Device device) =>
        model.TimeConditioned ? _schedule.Sigma(t).expand(b).to(device) : null;

    private static void Report(SamplingOptions o, int step, int steps, double t, Tensor x, int mask, bool called, bool fill, Stopwatch w)
    {
        if (o.OnStep is null) return;
        long left = x.eq(mask).sum().item<long>();
        o.OnStep(new SamplingStep(step, steps, t, x, left, called, fill, w.Elapsed));
    }

    /// <summary>Checks the options against the model (one-line <see cref="SdttException"/>s) and resolves SeqLen = 0.</summary>
    public static SamplingOptions Validate(IDenoiser model, SamplingOptions o)
    {
        if (o.Steps < 1) throw new SdttException($"steps must be ≥ 1 (got {o.Steps})");
        if (o.NumSamples < 1) throw new SdttException($"num-samples must be ≥ 1 (got {o.NumSamples})");
        int len = o.SeqLen;
        if (len == 0)
        {
            len = model.ModelLength ?? throw new SdttException("seq-len must be given for this model (it has no training length)");
        }
        if (len < 1) throw new SdttException($"seq-len must be ≥ 1 (got {o.SeqLen})");
        if (o.Prompt is { Count: > 0 } p && p.Count >= len)
            throw new SdttException($"seq-len {len} leaves no position to generate after a prompt of {p.Count} tokens (need seq-len ≥ {p.Count + 1})");
        o.CheckSettings();
        if ((o.AddBos || o.AddEos) && (o.BosToken < 0 || o.BosToken >= model.VocabSize || o.BosToken == model.MaskIndex))
            throw new SdttException($"BOS/EOS id {o.BosToken} is not a token of this model (vocabulary {model.VocabSize})");
        int chunk = o.ChunkRows > 0 ? o.ChunkRows : Math.Max(1, SamplingOptions.AutoChunkElements / model.VocabSize);
        return o with { SeqLen = len, ChunkRows = chunk };
    }
}

/// <summary>The ancestral sampler with the network-output cache of mdlm's <c>ddpm_cache</c> (same tokens, fewer calls).</summary>
public sealed class CachedAncestralSampler : ISampler
{
    private readonly AncestralSampler _inner;

    /// <summary>A cached sampler using <paramref name="schedule"/> (default log-linear, ε = 1e-3).</summary>
    public CachedAncestralSampler(LogLinearSchedule? schedule = null) => _inner = new AncestralSampler(schedule);

    /// <inheritdoc />
    public SamplingResult Sample(IDenoiser model, SamplingOptions options) => _inner.Sample(model, options with { Cached = true });
}
