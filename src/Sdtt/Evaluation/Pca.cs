using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>Principal component analysis through the thin SVD of the centred data (as scikit-learn's full PCA).</summary>
public static class Pca
{
    /// <summary>Projects <paramref name="data"/> [n, D] onto the fewest leading principal components whose explained-variance
    /// ratios sum to at least <paramref name="explainedVariance"/> (scikit-learn: index of the first cumulative ratio ≥ the
    /// threshold, plus one). Returns the projection [n, k] (float64) and k.</summary>
    public static (Tensor Projected, int Components) Fit(Tensor data, double explainedVariance = 0.9)
    {
        if (data.dim() != 2 || data.shape[0] < 2) throw new SdttException("PCA needs a [n ≥ 2, D] matrix");
        using var scope = NewDisposeScope();
        var x = data.to(ScalarType.Float64);
        var centred = x - x.mean(new long[] { 0 }, keepdim: true);
        var (_, s, vh) = linalg.svd(centred, fullMatrices: false);
        var var_ = s.square();
        var ratio = (var_ / var_.sum()).cumsum(0).cpu().data<double>().ToArray();
        int k = ratio.Length;
        for (int i = 0; i < ratio.Length; i++)
            if (ratio[i] >= explainedVariance - 1e-12) { k = i + 1; break; }
        var proj = centred.matmul(vh[..k].t());
        return (proj.MoveToOuterDisposeScope(), k);
    }
}
