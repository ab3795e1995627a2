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
        if (options.Rollout == TeacherRollout.RevealFirst) return ComputeRevealFirst(teacher, xt, t, dt, uniforms, schedule, options);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        int mask = teacher.MaskIndex;
        long b = xt.shape[0], l = xt.shape[1], v = teacher.VocabSize;
        var device = xt.device;
        var times = TeacherTimeGrid.Compute(t, dt, k, options.Grid);
        var rowIndex = xt.reshape(-1).eq(mask).nonzero().squeeze(-1);
        long n = rowIndex.shape[0];
        var storeType = options.StoreBFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
        var targets = zeros(new[] { n, v }, dtype: storeType, device: device);
        var source = full(n, (long)k, dtype: ScalarType.Int64, device: device);
        var traj = new List<Tensor> { xt.clone() };
        var drawType = options.Precision == CategoricalPrecision.Float64 ? ScalarType.Float64 : ScalarType.Float32;

        var x = xt.reshape(-1).clone();
        var rows = rowIndex;                                     // flattened positions still masked
        var pos = arange(n, dtype: ScalarType.Int64, device: device); // their index into the target rows
        for (int j = 0; j < k; j++)
        {
            var tj = times[j].to(ScalarType.Float32);           // float32 per sub-step, as the reference
            if (rows.shape[0] > 0)
            {
                using var step = NewDisposeScope();   // frees this sub-step's log-probs and uniforms before the next
                var xj = x.reshape(b, l);
                Tensor? sigma = teacher.TimeConditioned ? schedule.Sigma(tj) : null;
                var logp = teacher.LogProbsAt(xj, rows, sigma);
                var st = AncestralScheduler.At(tj, dt, schedule);
                var (mT, mS) = (st.MoveT, st.MoveS);
                var rowOf = rows.div(l, rounding_mode: RoundingMode.floor);
                var z = DrawRows(logp, mT.index_select(0, rowOf), mS.index_select(0, rowOf), rows, b, l, v, uniforms, drawType, mask, options);
                var revealed = z.ne(mask);
                var last = j == k - 1;
                // Revealed rows take this sub-step's prediction; after the last sub-step every row left takes it too.
                var revIdx = revealed.nonzero().squeeze(-1);
                if (last) targets.index_copy_(0, pos, logp.to(storeType));
                else targets.index_copy_(0, pos.index_select(0, revIdx), logp.index_select(0, revIdx).to(storeType));
                source.index_fill_(0, pos.index_select(0, revIdx), j);
                x.index_copy_(0, rows, z);
                var keep = revealed.logical_not().nonzero().squeeze(-1);
                rows = rows.index_select(0, keep).MoveToOuterDisposeScope();
                pos = pos.index_select(0, keep).MoveToOuterDisposeScope();
            }
            else
            {
                // Nothing left to reveal; the reference still draws one [B, L, V] tensor per sub-step.
                uniforms.BeginStep(b, l, v, drawType, device);
            }
            traj.Add(x.reshape(b, l).clone());
        }
        var result = new TeacherTargets(targets.MoveToOuterDisposeScope(), rowIndex.MoveToOuterDisposeScope(),
            source.MoveToOuterDisposeScope(), times.MoveToOuterDisposeScope(), stack(traj).MoveToOuterDisposeScope());
        return result;
    }

    /// <summary><see cref="TeacherRollout.RevealFirst"/>: per sub-step, one uniform per masked row (in row order) decides
    /// reveal; the teacher's log-probs are computed at the revealed rows (all rows left, in the last sub-step) and each
    /// revealed token takes one more uniform (in row order) to invert its float64 CDF. A sub-step that reveals nothing
    /// before the last makes no network call.</summary>
    private static TeacherTargets ComputeRevealFirst(IDenoiser teacher, Tensor xt, Tensor t, double dt, IUniformSource uniforms,
        LogLinearSchedule schedule, TeacherTargetOptions options)
    {
        int k = options.SubSteps;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        int mask = teacher.MaskIndex;
        long b = xt.shape[0], l = xt.shape[1], v = teacher.VocabSize;
        var device = xt.device;
        var times = TeacherTimeGrid.Compute(t, dt, k, options.Grid);
        var rowIndex = xt.reshape(-1).eq(mask).nonzero().squeeze(-1);
        long n = rowIndex.shape[0];
        var storeType = options.StoreBFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
        var targets = zeros(new[] { n, v }, dtype: storeType, device: device);
        var source = full(n, (long)k, dtype: ScalarType.Int64, device: device);
        var traj = new List<Tensor> { xt.clone() };
        var x = xt.reshape(-1).clone();
        var rows = rowIndex;
        var pos = arange(n, dtype: ScalarType.Int64, device: device);
        for (int j = 0; j < k && rows.shape[0] > 0; j++)
        {
            using var step = NewDisposeScope();
            var tj = times[j].to(ScalarType.Float32);
            bool last = j == k - 1;
            var reveal = AncestralScheduler.At(tj, dt, schedule).RevealProbability.to(ScalarType.Float64) * options.RevealScale;
            var u = uniforms.Draw(rows, b, l, 1, ScalarType.Float64, device).reshape(-1);
            var revealed = u.lt(reveal.index_select(0, rows.div(l, rounding_mode: RoundingMode.floor)));
            var revIdx = revealed.nonzero().squeeze(-1);
            long r = revIdx.shape[0];
            if (r > 0 || last)
            {
                var xj = x.reshape(b, l);
                Tensor? sigma = teacher.TimeConditioned ? schedule.Sigma(tj) : null;
                var revRows = rows.index_select(0, revIdx);
                Tensor logpRev;
                if (last)
                {
                    // Every row left takes the last sub-step's prediction as its target.
                    var logp = teacher.LogProbsAt(xj, rows, sigma);
                    targets.index_copy_(0, pos, logp.to(storeType));
                    logpRev = logp.index_select(0, revIdx);
                }
                else
                {
                    logpRev = teacher.LogProbsAt(xj, revRows, sigma);
                    targets.index_copy_(0, pos.index_select(0, revIdx), logpRev.to(storeType));
                }
                if (r > 0)
                {
                    var ut = uniforms.Draw(revRows, b, l, 1, ScalarType.Float64, device).reshape(-1);
                    var z = empty(r, dtype: ScalarType.Int64, device: device);
                    long chunk = Math.Max(1, options.ChunkElements / Math.Max(1, v));
                    for (long c0 = 0; c0 < r; c0 += chunk)
                    {
                        using var inner = NewDisposeScope();
                        long c = Math.Min(chunk, r - c0);
                        z.narrow(0, c0, c).copy_(Sampling.InverseCdf.Draw(logpRev.narrow(0, c0, c), ut.narrow(0, c0, c), mask));
                    }
                    x.index_copy_(0, revRows, z);
                    source.index_fill_(0, pos.index_select(0, revIdx), j);
                }
            }
            var keep = revealed.logical_not().nonzero().squeeze(-1);
            rows = rows.index_select(0, keep).MoveToOuterDisposeScope();
            pos = pos.index_select(0, keep).MoveToOuterDisposeScope();
            traj.Add(x.reshape(b, l).clone().MoveToOuterDisposeScope());
        }
        while (traj.Count < k + 1) traj.Add(x.reshape(b, l).clone());
        return new TeacherTargets(targets.MoveToOuterDisposeScope(), rowIndex.MoveToOuterDisposeScope(),
            source.MoveToOuterDisposeScope(), times.MoveToOuterDisposeScope(), stack(traj).MoveToOuterDisposeScope());
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
