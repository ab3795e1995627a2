using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Models;

/// <summary>The SUBS parameterization (MDLM): the mask class is impossible, and unmasked positions carry over.</summary>
public static class Subs
{
    /// <summary>The reference's "−∞" (-1e6).</summary>
    public const float NegInfinity = -1_000_000f;

    /// <summary>logits [B, L, V] → log-probs: mask logit −1e6, log-softmax, carry-over rows (0 at x_t, −1e6 elsewhere).</summary>
    public static Tensor Apply(Tensor logits, Tensor xt, int maskIndex)
    {
        using var scope = NewDisposeScope();
        var logp = MaskedRows(logits, maskIndex);
        var unmasked = xt.ne(maskIndex).unsqueeze(-1);
        using var negInf = NegInfinity.ToScalar(); // explicit: see ProbabilityShaping
        var carry = full_like(logp, negInf).scatter_(-1, xt.unsqueeze(-1), zeros_like(logp[.., .., ..1]));
        return where(unmasked, carry, logp).MoveToOuterDisposeScope();
    }

    /// <summary>Log-probs for rows known to be masked: logits [.., V] with the mask column pushed to −1e6, log-softmax.</summary>
    public static Tensor MaskedRows(Tensor logits, int maskIndex)
    {
        using var scope = NewDisposeScope();
        var z = logits.to(ScalarType.Float32).clone();
        using var negInf = NegInfinity.ToScalar();
        z.select(-1, maskIndex).add_(negInf);
        return (z - z.logsumexp(-1, keepdim: true)).MoveToOuterDisposeScope();
    }
}
