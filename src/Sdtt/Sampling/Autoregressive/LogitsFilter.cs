using static TorchSharp.torch;

namespace Sdtt.Sampling.Autoregressive;

/// <summary>Top-k and nucleus (top-p) filtering of next-token logits [B, V]: filtered entries become −∞.</summary>
public static class LogitsFilter
{
    /// <summary>Keeps the <paramref name="k"/> largest logits of each row (ties with the k-th value are kept); k ≤ 0 or k ≥ V is a no-op.</summary>
    public static Tensor TopK(Tensor logits, int k)
    {
        if (k <= 0 || k >= logits.shape[^1]) return logits.alias();
        using var scope = NewDisposeScope();
        var (values, _) = logits.topk(k, dim: -1);
        var kth = values[.., ^1..];
        return logits.masked_fill(logits.lt(kth), double.NegativeInfinity).MoveToOuterDisposeScope();
    }

    /// <summary>HF-style nucleus filter: sort each row by decreasing probability, remove the tokens after the cumulative
    /// probability first exceeds <paramref name="p"/> (the token that crosses p is kept, and so is the most likely token).
    /// p ≥ 1 is a no-op.</summary>
    public static Tensor TopP(Tensor logits, double p)
    {
        if (p >= 1.0) return logits.alias();
        using var scope = NewDisposeScope();
        var (sorted, index) = logits.sort(-1, descending: true);
        var cumulative = sorted.softmax(-1).cumsum(-1);
        var removeSorted = cumulative.gt(p);
        // shift right by one so the first token above the threshold is kept; the most likely token is never removed
        removeSorted = cat(new[] { zeros_like(removeSorted[.., ..1]), removeSorted[.., ..^1] }, -1);
        var remove = zeros_like(removeSorted).scatter(-1, index, removeSorted);
        return logits.masked_fill(remove, double.NegativeInfinity).MoveToOuterDisposeScope();
    }
}
