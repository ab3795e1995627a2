using Sdtt.Diffusion;
using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>Precision of the categorical draw. The reference draws in float32 (which truncates the Gumbel tail slightly);
/// float64 is this project's default.</summary>
public enum CategoricalPrecision
{
    /// <summary>q and u cast to float64 before the exponential race.</summary>
    Float64,
    /// <summary>Every operation in float32, bit-compatible with the reference.</summary>
    Float32,
}

/// <summary>The ancestral (DDPM) update of masked diffusion (reference C.1/C.3), as pure tensor functions.
/// A masked position stays masked with probability m_s/m_t (= s/t) and otherwise takes token v with probability p_θ(v).</summary>
public static class AncestralStep
{
    /// <summary>s = t − dt in float32 (dt rounded to float32 first, as the reference does).</summary>
    public static Tensor PreviousTime(Tensor t, double dt) => t.to(ScalarType.Float32) - (float)dt;

    /// <summary>Unnormalised reverse kernel for masked rows: q[v] = exp(logp[v])·(m_t − m_s), then q[MASK] = m_s.
    /// logp [N, V]; mT, mS [N] (per row).</summary>
    public static Tensor Kernel(Tensor logpRows, Tensor mT, Tensor mS, int maskIndex)
    {
        using var scope = NewDisposeScope();
        var q = logpRows.exp() * (mT - mS).unsqueeze(-1);
        q.select(-1, maskIndex).copy_(mS);
        return q.MoveToOuterDisposeScope();
    }

    /// <summary>Exponential race: argmax_v q[v] / (1e-10 − log(u[v] + 1e-10)); ties go to the lowest index.</summary>
    public static Tensor SampleCategorical(Tensor q, Tensor u, CategoricalPrecision precision)
    {
        using var scope = NewDisposeScope();
        var dtype = precision == CategoricalPrecision.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        // g = 1e-10 − log(u + 1e-10), computed in place on one copy ((−y) + a rounds exactly like a − y), then q / g:
        // two temporaries instead of five, bit-identical to the out-of-place formula.
        var g = u.to(dtype, copy: true);
        g.add_(1e-10).log_().neg_().add_(1e-10);
        var r = q.to(dtype, copy: true);
        r.div_(g);
        return r.argmax(-1).MoveToOuterDisposeScope();
    }

    /// <summary>New tokens for masked rows: z [N] (z = MASK means "stays masked").</summary>
    public static Tensor SampleRows(Tensor logpRows, Tensor mT, Tensor mS, Tensor u, int maskIndex, CategoricalPrecision precision)
    {
        using var scope = NewDisposeScope();
        var q = Kernel(logpRows, mT, mS, maskIndex);
        return SampleCategorical(q, u, precision).MoveToOuterDisposeScope();
    }

    /// <summary>Greedy fill of masked rows: argmax of p_θ over real tokens (the reference's final denoising pass).</summary>
    public static Tensor GreedyRows(Tensor logpRows, int maskIndex)
    {
        using var scope = NewDisposeScope();
        var lp = logpRows.clone();
        lp.select(-1, maskIndex).fill_(double.NegativeInfinity);
        return lp.argmax(-1).MoveToOuterDisposeScope();
    }

    /// <summary>One full reference-shaped step: x [B, L], logp [B, L, V] (SUBS), t [B], uniforms from <paramref name="uniforms"/>.
    /// Returns x_new (carry-over of unmasked tokens). Useful for tests and the SDTT teacher rollout; samplers use the
    /// row-wise functions to avoid B×L×V work.</summary>
    public static Tensor Update(Tensor x, Tensor logp, Tensor t, double dt, IUniformSource uniforms, LogLinearSchedule schedule,
        int maskIndex, CategoricalPrecision precision)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], l = x.shape[1], v = logp.shape[^1];
        var rows = x.reshape(-1).eq(maskIndex).nonzero().squeeze(-1);
        var st = AncestralScheduler.At(t, dt, schedule);
        var (mT, mS) = (st.MoveT, st.MoveS);
        var u = uniforms.Draw(rows, b, l, v, precision == CategoricalPrecision.Float64 ? ScalarType.Float64 : ScalarType.Float32, x.device);
        var rowOf = rows.div(l, rounding_mode: RoundingMode.floor);
        var z = SampleRows(logp.reshape(-1, v).index_select(0, rows), mT.index_select(0, rowOf), mS.index_select(0, rowOf), u, maskIndex, precision);
        var flat = x.reshape(-1).clone();
        flat.index_copy_(0, rows, z);
        return flat.reshape(b, l).MoveToOuterDisposeScope();
    }
}
