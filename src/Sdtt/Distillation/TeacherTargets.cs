using Sdtt.Diffusion;
using Sdtt.Models;
using Sdtt.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Distillation;

/// <summary>How the teacher rollout draws each sub-step's update.</summary>
public enum TeacherRollout
{
    /// <summary>The reference: the teacher's log-probs at every masked row, then the exponential race over the vocabulary
    /// plus the mask at each (golden parity with the released code).</summary>
    Reference,
    /// <summary>Same distribution, less work: one uniform per masked row decides reveal with probability (m_t − m_s)/m_t
    /// first; the output layer runs only at the rows revealed in a sub-step (their targets) and at every row left in the
    /// last sub-step (theirs), and a revealed token is drawn by inverting the float64 CDF with one uniform per row.</summary>
    RevealFirst,
}

/// <summary>Options of the SDTT teacher rollout (the paper's Algorithm 1).</summary>
/// <param name="SubSteps">k, the teacher's ancestral sub-steps per target (2 in the paper and the reference).</param>
/// <param name="Grid">Teacher time grid: the paper's t, t − dt, … (default) or the released code's.</param>
/// <param name="Precision">Precision of the reference rollout's categorical draws (the reference draws in float32).</param>
/// <param name="StoreBFloat16">Keep the target rows in bfloat16 (halves their memory; the loss casts back to float32).</param>
/// <param name="ChunkElements">Rows × vocabulary values per chunk of the categorical draw (bounds its temporaries).</param>
/// <param name="Rollout">The reference rollout (default here, for parity) or the reveal-first one (distillation's default).</param>
public sealed record TeacherTargetOptions(
    int SubSteps = 2, TeacherGrid Grid = TeacherGrid.Intended, CategoricalPrecision Precision = CategoricalPrecision.Float32,
    bool StoreBFloat16 = false, long ChunkElements = 1 << 22, TeacherRollout Rollout = TeacherRollout.Reference)
{
    /// <summary>Test hook: scales the reveal-first rollout's reveal probability, so a test can show that a wrong rollout
    /// fails the exactness check.</summary>
    internal double RevealScale { get; init; } = 1.0;
}

/// <summary>The SDTT targets of one micro-batch, held only at the positions masked in x_t (never B×L×V).</summary>
public sealed class TeacherTargets : IDisposable
{
    /// <summary>Target log-prob rows [N, V] at the masked positions of x_t, row-major over (b, l) (the order of
    /// <c>xt.eq(mask).nonzero()</c>); float32, or bfloat16 with <see cref="TeacherTargetOptions.StoreBFloat16"/>.</summary>
    public Tensor Rows { get; }
    /// <summary>Flattened positions (indices into B·L) of the rows [N] (int64).</summary>
    public Tensor RowIndex { get; }
    /// <summary>Sub-step that produced each row [N] (int64): j &lt; k = revealed in sub-step j, k = never revealed
    /// (target from the last sub-step). The reference's <c>source</c> codes.</summary>
    public Tensor Source { get; }
    /// <summary>Sub-step start times [k, B] (float64, after the floor).</summary>
    public Tensor Times { get; }
    /// <summary>x after each sub-step: [k + 1, B, L] with x_t first (int64).</summary>
    public Tensor Trajectory { get; }

    internal TeacherTargets(Tensor rows, Tensor rowIndex, Tensor source, Tensor times, Tensor trajectory)
    {
        Rows = rows; RowIndex = rowIndex; Source = source; Times = times; Trajectory = trajectory;
    }

    /// <summary>Number of target rows N (masked positions of x_t).</summary>
    public long Count => RowIndex.shape[0];

    /// <summary>Runs the teacher rollout. The teacher is put in eval mode and called under no_grad; at sub-step j it
    /// computes log-probs only at the rows still masked before that sub-step (<see cref="IDenoiser.LogProbsAt"/>).
    /// Each sub-step consumes one <see cref="IUniformSource.Draw"/> call.</summary>
    /// <param name="teacher">The teacher network.</param>
    /// <param name="xt">Noised tokens [B, L].</param>
    /// <param name="t">Per-sequence times [B] (float32).</param>
    /// <param name="dt">The teacher's step size (the round's dt).</param>
    /// <param name="uniforms">Uniforms for the sub-step draws.</param>
    /// <param name="schedule">Noise schedule (m(t)).</param>
    /// <param name="options">Sub-step count, grid, draw precision, storage dtype.</param>
    public static TeacherTargets Compute(IDenoiser teacher, Tensor xt, Tensor t, double dt, IUniformSource uniforms,
        LogLinearSchedule schedule, TeacherTargetOptions options)
    {
        if (teacher is nn.Module m && m.training) m.eval();
        int k = options.SubSteps;
        if (k < 1) throw new SdttException($"the number of teacher sub-steps must be ≥ 1 (got {k})");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var r = new Rollout(teacher, xt, t, dt, options);
        if (options.Rollout == TeacherRollout.RevealFirst) RunRevealFirst(r, teacher, dt, uniforms, schedule, options);
        else RunReference(r, teacher, dt, uniforms, schedule, options);
        return new TeacherTargets(r.Targets.MoveToOuterDisposeScope(), r.RowIndex.MoveToOuterDisposeScope(),
            r.Source.MoveToOuterDisposeScope(), r.Times.MoveToOuterDisposeScope(), stack(r.Trajectory).MoveToOuterDisposeScope());
    }

    /// <summary>What both rollouts track: the target rows, their source codes, x, the rows still masked (flattened positions)
    /// and their index into the target rows, and the trajectory.</summary>
    private sealed class Rollout
    {
        public readonly int Mask, K;
        public readonly long B, L, V;
        public readonly ScalarType StoreType;
        public readonly Tensor Times, RowIndex, Targets, Source, X;
        public readonly List<Tensor> Trajectory;
        public Tensor Rows, Pos;

        public Rollout(IDenoiser teacher, Tensor xt, Tensor t, double dt, TeacherTargetOptions options)
        {
            Mask = teacher.MaskIndex;
            K = options.SubSteps;
            (B, L, V) = (xt.shape[0], xt.shape[1], teacher.VocabSize);
            Times = TeacherTimeGrid.Compute(t, dt, K, options.Grid);
            RowIndex = xt.reshape(-1).eq(Mask).nonzero().squeeze(-1);
            long n = RowIndex.shape[0];
            StoreType = options.StoreBFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
            Targets = zeros(new[] { n, V }, dtype: StoreType, device: xt.device);
            Source = full(n, (long)K, dtype: ScalarType.Int64, device: xt.device);
            Trajectory = new List<Tensor> { xt.clone() };
            X = xt.reshape(-1).clone();
            Rows = RowIndex;
            Pos = arange(n, dtype: ScalarType.Int64, device: xt.device);
        }

        /// <summary>Batch row of each row still masked.</summary>
        public Tensor RowOf => Rows.div(L, rounding_mode: RoundingMode.floor);

        /// <summary>Keeps the rows not revealed this sub-step (call inside the sub-step's dispose scope).</summary>
        public void Keep(Tensor revealed)
        {
            var keep = revealed.logical_not().nonzero().squeeze(-1);
            Rows = Rows.index_select(0, keep).MoveToOuterDisposeScope();
            Pos = Pos.index_select(0, keep).MoveToOuterDisposeScope();
        }

        /// <summary>Appends x after a sub-step to the trajectory.</summary>
        public void Record() => Trajectory.Add(X.reshape(B, L).clone());
    }

    /// <summary><see cref="TeacherRollout.Reference"/>: at each sub-step the teacher's log-probs at every row still masked,
    /// then the exponential race over the vocabulary and the mask (each sub-step consumes one uniform step).</summary>
    private static void RunReference(Rollout r, IDenoiser teacher, double dt, IUniformSource uniforms, LogLinearSchedule schedule,
        TeacherTargetOptions options)
    {
        var drawType = options.Precision == CategoricalPrecision.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        for (int j = 0; j < r.K; j++)
        {
            var tj = r.Times[j].to(ScalarType.Float32);           // float32 per sub-step, as the reference
            if (r.Rows.shape[0] > 0)
            {
                using var step = NewDisposeScope();   // frees this sub-step's log-probs and uniforms before the next
                Tensor? sigma = teacher.TimeConditioned ? schedule.Sigma(tj) : null;
                var logp = teacher.LogProbsAt(r.X.reshape(r.B, r.L), r.Rows, sigma);
                var st = AncestralScheduler.At(tj, dt, schedule);
                var rowOf = r.RowOf;
                var z = DrawRows(logp, st.MoveT.index_select(0, rowOf), st.MoveS.index_select(0, rowOf), r.Rows, r.B, r.L, r.V, uniforms, drawType, r.Mask, options);
                var revealed = z.ne(r.Mask);
                // Revealed rows take this sub-step's prediction; after the last sub-step every row left takes it too.
                var revIdx = revealed.nonzero().squeeze(-1);
                if (j == r.K - 1) r.Targets.index_copy_(0, r.Pos, logp.to(r.StoreType));
                else r.Targets.index_copy_(0, r.Pos.index_select(0, revIdx), logp.index_select(0, revIdx).to(r.StoreType));
                r.Source.index_fill_(0, r.Pos.index_select(0, revIdx), j);
                r.X.index_copy_(0, r.Rows, z);
                r.Keep(revealed);
            }
            else
            {
                // Nothing left to reveal; the reference still draws one [B, L, V] tensor per sub-step.
                uniforms.BeginStep(r.B, r.L, r.V, drawType, r.X.device);
            }
            r.Record();
        }
    }

    /// <summary><see cref="TeacherRollout.RevealFirst"/>: per sub-step, one uniform per masked row (in row order) decides
    /// reveal; the teacher's log-probs are computed at the revealed rows (all rows left, in the last sub-step) and each
    /// revealed token takes one more uniform (in row order) to invert its float64 CDF. A sub-step before the last that
    /// reveals nothing makes no network call.</summary>
    private static void RunRevealFirst(Rollout r, IDenoiser teacher, double dt, IUniformSource uniforms, LogLinearSchedule schedule,
        TeacherTargetOptions options)
    {
        var device = r.X.device;
        for (int j = 0; j < r.K; j++)
        {
            if (r.Rows.shape[0] > 0)
            {
                using var step = NewDisposeScope();
                var tj = r.Times[j].to(ScalarType.Float32);
                bool last = j == r.K - 1;
                var reveal = AncestralScheduler.At(tj, dt, schedule).RevealProbability.to(ScalarType.Float64) * options.RevealScale;
                var u = uniforms.Draw(r.Rows, r.B, r.L, 1, ScalarType.Float64, device).reshape(-1);
                var revealed = u.lt(reveal.index_select(0, r.RowOf));
                var revIdx = revealed.nonzero().squeeze(-1);
                long n = revIdx.shape[0];
                if (n > 0 || last)
                {
                    Tensor? sigma = teacher.TimeConditioned ? schedule.Sigma(tj) : null;
                    var xj = r.X.reshape(r.B, r.L);
                    var revRows = r.Rows.index_select(0, revIdx);
                    Tensor logpRev;
                    if (last)
                    {
                        // Every row left takes the last sub-step's prediction as its target.
                        var logp = teacher.LogProbsAt(xj, r.Rows, sigma);
                        r.Targets.index_copy_(0, r.Pos, logp.to(r.StoreType));
                        logpRev = logp.index_select(0, revIdx);
                    }
                    else
                    {
                        logpRev = teacher.LogProbsAt(xj, revRows, sigma);
                        r.Targets.index_copy_(0, r.Pos.index_select(0, revIdx), logpRev.to(r.StoreType));
                    }
                    if (n > 0)
                    {
                        var ut = uniforms.Draw(revRows, r.B, r.L, 1, ScalarType.Float64, device).reshape(-1);
                        var z = empty(n, dtype: ScalarType.Int64, device: device);
                        long chunk = Math.Max(1, options.ChunkElements / Math.Max(1, r.V));
                        for (long c0 = 0; c0 < n; c0 += chunk)
                        {
                            using var inner = NewDisposeScope();
                            long c = Math.Min(chunk, n - c0);
                            z.narrow(0, c0, c).copy_(InverseCdf.Draw(logpRev.narrow(0, c0, c), ut.narrow(0, c0, c), r.Mask));
                        }
                        r.X.index_copy_(0, revRows, z);
                        r.Source.index_fill_(0, r.Pos.index_select(0, revIdx), j);
                    }
                }
                r.Keep(revealed);
            }
            r.Record();
        }
    }

    /// <summary>The categorical draw of one sub-step, in row chunks of about <see cref="TeacherTargetOptions.ChunkElements"/>
    /// values so the kernel and the exponential race never hold more than a chunk of [N, V] temporaries.</summary>
    private static Tensor DrawRows(Tensor logp, Tensor mT, Tensor mS, Tensor rows, long b, long l, long v, IUniformSource uniforms,
        ScalarType drawType, int mask, TeacherTargetOptions options)
    {
        using var scope = NewDisposeScope();
        long n = rows.shape[0];
        long chunk = Math.Max(1, options.ChunkElements / Math.Max(1, v));
        // One BeginStep per sub-step (an injected pool serves one [B, L, V] tensor per sub-step); uniforms are drawn per chunk.
        var step = uniforms.BeginStep(b, l, v, drawType, rows.device);
        var z = empty(n, dtype: ScalarType.Int64, device: rows.device);
        for (long s = 0; s < n; s += chunk)
        {
            using var inner = NewDisposeScope();
            long c = Math.Min(chunk, n - s);
            var u = step.Draw(rows.narrow(0, s, c));
            z.narrow(0, s, c).copy_(AncestralStep.SampleRows(logp.narrow(0, s, c), mT.narrow(0, s, c), mS.narrow(0, s, c), u, mask, options.Precision));
        }
        return z.MoveToOuterDisposeScope();
    }

    /// <summary>The <c>source</c> codes on the [B, L] grid (−1 = not masked in x_t), as stored in the goldens.</summary>
    public Tensor SourceGrid(long batch, long length)
    {
        using var scope = NewDisposeScope();
        var g = full(batch * length, -1L, dtype: ScalarType.Int64, device: Source.device);
        g.index_copy_(0, RowIndex, Source);
        return g.reshape(batch, length).MoveToOuterDisposeScope();
    }

    /// <summary>Bytes held by the target rows.</summary>
    public long RowBytes => Rows.numel() * (Rows.dtype == ScalarType.BFloat16 ? 2 : 4);

    /// <inheritdoc />
    public void Dispose()
    {
        Rows.Dispose(); RowIndex.Dispose(); Source.Dispose(); Times.Dispose(); Trajectory.Dispose();
    }
}
