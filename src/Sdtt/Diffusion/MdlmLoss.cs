using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Diffusion;

/// <summary>The MDLM continuous-time NELBO with the SUBS parameterization: per token −log p_θ(x0 | x_t) · dσ/expm1(σ)
/// (= 1/t), zero at unmasked positions, averaged over all B·L tokens.</summary>
public static class MdlmLoss
{
    /// <summary>Per-token loss [B, L] from SUBS log-probs [B, L, V] (the reference's form; unmasked positions give −0).</summary>
    public static Tensor PerToken(Tensor logProbs, Tensor x0, Tensor t, LogLinearSchedule schedule)
    {
        using var scope = NewDisposeScope();
        var logpX0 = logProbs.gather(-1, x0.unsqueeze(-1)).squeeze(-1);
        var w = schedule.LossWeight(t.to(ScalarType.Float32)).unsqueeze(1);
        return (-logpX0 * w).MoveToOuterDisposeScope();
    }

    /// <summary>Mean NELBO over all tokens, computing the output layer only at masked positions (unmasked positions
    /// contribute exactly 0 under SUBS). <paramref name="sigma"/> [B] is passed to the network (null = zeros, which is what
    /// a model without time conditioning sees anyway). Returns (loss, per-row NLL sum [B]).</summary>
    public static (Tensor Loss, Tensor RowSums) Compute(IDenoiser model, Tensor x0, Tensor xt, Tensor t, LogLinearSchedule schedule, Tensor? sigma = null)
    {
        using var scope = NewDisposeScope();
        long b = x0.shape[0], l = x0.shape[1];
        var masked = xt.eq(model.MaskIndex).reshape(-1);
        var idx = masked.nonzero().squeeze(-1);
        var w = schedule.LossWeight(t.to(ScalarType.Float32));
        if (idx.shape[0] == 0)
        {
            var zero = zeros(1, device: x0.device).sum() * 0;
            return (zero.MoveToOuterDisposeScope(), zeros(b, device: x0.device).MoveToOuterDisposeScope());
        }
        var logp = model.LogProbsAt(xt, idx, sigma);
        var target = x0.reshape(-1).index_select(0, idx);
        var rowOf = idx.div(l, rounding_mode: RoundingMode.floor);
        var nll = -logp.gather(-1, target.unsqueeze(-1)).squeeze(-1) * w.index_select(0, rowOf);
        var rowSums = zeros(b, device: x0.device).index_add(0, rowOf, nll, 1);
        var loss = nll.sum() / (b * l);
        return (loss.MoveToOuterDisposeScope(), rowSums.MoveToOuterDisposeScope());
    }
}
