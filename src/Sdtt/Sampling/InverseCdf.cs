using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>Token draws by inverting the float64 CDF with one uniform per row: the smallest v with CDF(v) &gt; u·total,
/// clamped to the last token of non-zero probability. The mask column is zeroed first, so the mask id is never drawn.</summary>
public static class InverseCdf
{
    /// <summary>How far a row's probabilities may sum from 1 before the denoiser is called broken (they are renormalised
    /// within it: SUBS rows in float32 sum to 1 within ~1e-6).</summary>
    public const double SumTolerance = 1e-3;

    /// <summary>Tokens [R] for log-prob rows [R, V] and uniforms [R] (float64, in [0, 1)).</summary>
    public static Tensor Draw(Tensor logpRows, Tensor u, int maskIndex)
    {
        using var scope = NewDisposeScope();
        long v = logpRows.shape[^1];
        var p = logpRows.exp().to(ScalarType.Float64);
        p.select(-1, maskIndex).zero_();
        var cdf = p.cumsum(-1);
        var total = cdf.narrow(-1, v - 1, 1);
        var worst = (total - 1).abs().max().item<double>();
        if (!(worst <= SumTolerance))
            throw new SdttException($"the denoiser's probabilities over real tokens sum to {total.flatten()[(total - 1).abs().flatten().argmax()].item<double>():G6} at a revealed row, not 1 (tolerance {SumTolerance})");
        var target = u.to(ScalarType.Float64).to(p.device).unsqueeze(-1) * total;
        var idx = searchsorted(cdf, target, right: true).squeeze(-1);
        // Last index with p > 0 (CDF ties beyond it are zero-probability tokens; rounding may push u·total to the top).
        var positive = p.gt(0);
        var last = (v - 1) - positive.flip(-1).to(ScalarType.Int32).argmax(-1);
        return minimum(idx, last).MoveToOuterDisposeScope();
    }
}
