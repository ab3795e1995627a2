using TorchSharp;
using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>Temperature and nucleus (top-p) reshaping of p_θ for masked rows, applied before the reverse kernel.
/// (The reference diffusion sampler has neither; with T = 1 and P = 1 the rows are returned untouched.)</summary>
public static class ProbabilityShaping
{
    /// <summary>Whether (T, P) changes anything.</summary>
    public static bool IsIdentity(double temperature, double topP) => temperature == 1.0 && topP >= 1.0;

    /// <summary>Log-probs [N, V] → reshaped log-probs over the real tokens (mask column at −1e6).
    /// Temperature: logp/T renormalised over real tokens. Top-p: per row keep tokens in decreasing probability until the
    /// cumulative probability of the tokens before them exceeds P (the most likely is always kept), renormalise.</summary>
    public static Tensor Apply(Tensor logpRows, double temperature, double topP, int maskIndex)
    {
        if (IsIdentity(temperature, topP)) return logpRows.alias();
        if (!(temperature > 0) || double.IsInfinity(temperature)) throw new SdttException($"temperature must be a positive number (got {temperature})");
        if (!(topP > 0 && topP <= 1)) throw new SdttException($"top-p must be in (0, 1] (got {topP})");
        using var scope = NewDisposeScope();
        // Explicit Scalars: an implicitly converted one can be finalised by the GC while libtorch still reads it
        // (seen once as "Scalar toFloat: Expected false to be true" inside masked_fill).
        using var negInf = Subs.NegInfinity.ToScalar();
        using var tScalar = temperature.ToScalar();
        var lp = logpRows.to(ScalarType.Float32).clone();
        lp.select(-1, maskIndex).fill_(negInf);
        if (temperature != 1.0)
        {
            lp = lp.div(tScalar);
            lp.select(-1, maskIndex).fill_(negInf);
            lp = lp - lp.logsumexp(-1, keepdim: true);
        }
        if (topP < 1.0)
        {
            var (sorted, order) = lp.sort(-1, descending: true);
            var cum = sorted.exp().cumsum(-1);
            var before = cum - sorted.exp();               // probability mass of strictly more likely tokens
            var remove = before.gt(topP);
            remove.select(-1, 0).fill_(false);
            var removeOrig = zeros_like(remove).scatter_(-1, order, remove);
            lp = lp.masked_fill(removeOrig, negInf);
            lp.select(-1, maskIndex).fill_(negInf);
            lp = lp - lp.logsumexp(-1, keepdim: true);
        }
        return lp.MoveToOuterDisposeScope();
    }
}
