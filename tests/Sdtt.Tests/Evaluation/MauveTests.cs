using Sdtt.Evaluation;
using Sdtt.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Tests.Evaluation;

public class MauveTests
{
    static Tensor Gauss(int n, int d, double shift, ulong seed, double scale = 1)
    {
        TorchRuntime.EnsureLoaded();
        var g = new Generator(seed);
        var x = randn(n, d, dtype: ScalarType.Float64, generator: g) * scale;
        x[.., 0] += shift;
        return x;
    }

    static readonly MauveOptions Fast = new(KMeans: new KMeansOptions(Redos: 2, MaxIterations: 100));

    [Fact]
    public void IdenticalSetsScoreOne()
    {
        using var p = Gauss(300, 16, 0, 1);
        var r = Mauve.Compute(p, p.clone(), seed: 1, Fast);
        Assert.Equal(1.0, r.Score, 9);
        Assert.Equal(30, r.Buckets);
    }

    [Fact]
    public void SameDistributionScoresHigh()
    {
        using var p = Gauss(400, 16, 0, 1);
        using var q = Gauss(400, 16, 0, 2);
        var s = Mauve.ComputeSeeds(p, q, new[] { 1, 2, 3 }, Fast);
        Assert.True(s.Mean > 0.9, $"MAUVE {s.Mean}");
        Assert.Equal(3, s.Scores.Length);
        Assert.True(s.Std >= 0 && s.Std < 0.05);
    }

    [Fact]
    public void DisjointSetsScoreNearZero()
    {
        using var p = Gauss(300, 16, 0, 1);
        using var q = Gauss(300, 16, 0, 2);
        // Normalisation removes scale, so make q point the opposite way on its own axes.
        using var q2 = q * 0.1 - 0; 
        q2[.., 1] += 5.0;
        p[.., 0] += 5.0;
        var r = Mauve.Compute(p, q2, 1, Fast);
        Assert.True(r.Score < 0.1, $"MAUVE {r.Score}");
    }

    [Fact]
    public void FallsAsOffDistributionFractionGrows()
    {
        using var p = Gauss(400, 16, 0, 1);
        using var onDist = Gauss(400, 16, 0, 2);
        using var offDist = Gauss(400, 16, 0, 3, 0.3);
        offDist[.., 2] += 3.0;
        var scores = new List<double>();
        foreach (var frac in new[] { 0.0, 0.25, 0.5, 1.0 })
        {
            int off = (int)(400 * frac);
            using var q = cat(new[] { onDist[..(400 - off)], offDist[..off] }, 0);
            scores.Add(Mauve.ComputeSeeds(p, q, new[] { 1, 2 }, Fast).Mean);
        }
        for (int i = 1; i < scores.Count; i++) Assert.True(scores[i] < scores[i - 1], string.Join(", ", scores));
        Assert.True(scores[0] > 0.9 && scores[^1] < 0.1, string.Join(", ", scores));
    }

    [Fact]
    public void DivergenceCurveKnownCases()
    {
        var p = new[] { 0.5, 0.5, 0, 0 };
        Assert.Equal(1.0, Mauve.Area(Mauve.DivergenceCurve(p, p)), 12);
        // Rounding in the mixture never pushes the score above 1.
        var odd = new[] { 0.1, 0.7, 0.2 };
        Assert.True(Mauve.Area(Mauve.DivergenceCurve(odd, odd)) <= 1.0);
        Assert.True(Mauve.Kl(odd, odd.Select(v => v * (1 + 1e-16)).ToArray()) >= 0);
        // Disjoint supports: KL(Q‖R) = −ln(1−λ), KL(P‖R) = −ln λ → points ((1−λ)^5, λ^5).
        var q = new[] { 0, 0, 0.5, 0.5 };
        var curve = Mauve.DivergenceCurve(p, q);
        Assert.Equal(27, curve.Length);
        Assert.Contains(curve, pt => Math.Abs(pt.X - Math.Pow(0.5, 5)) < 1e-6 && Math.Abs(pt.Y - Math.Pow(0.5, 5)) < 1e-6);
        Assert.True(Mauve.Area(curve) < 0.01);
        Assert.Equal(2, Mauve.AutoBuckets(5, 100));
        Assert.Equal(102, Mauve.AutoBuckets(1024, 5120));
    }

    [Fact]
    public void PcaKeepsExplainedVarianceAndKMeansFindsClusters()
    {
        TorchRuntime.EnsureLoaded();
        var g = new Generator(5);
        // Rank-2 data embedded in 6 dimensions plus tiny noise.
        var basis = randn(2, 6, dtype: ScalarType.Float64, generator: g);
        var coef = randn(200, 2, dtype: ScalarType.Float64, generator: g);
        var x = coef.matmul(basis) + 1e-4 * randn(200, 6, dtype: ScalarType.Float64, generator: g);
        var (proj, k) = Pca.Fit(x, 0.9);
        Assert.True(k <= 2);
        Assert.Equal(200, proj.shape[0]);
        var (_, kAll) = Pca.Fit(x, 0.999999999);
        Assert.True(kAll > 2);

        var centres = new[] { -10.0, 0.0, 10.0 };
        var pts = cat(centres.Select(c => randn(50, 3, dtype: ScalarType.Float64, generator: g) + c).ToArray(), 0);
        var km = KMeans.Fit(pts, 3, seed: 1);
        for (int c = 0; c < 3; c++)
        {
            var labels = km.Labels.Skip(50 * c).Take(50).Distinct().ToArray();
            Assert.Single(labels);
        }
        Assert.Equal(3, km.Labels.Distinct().Count());
    }
}
