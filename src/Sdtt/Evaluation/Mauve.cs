using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>MAUVE options (defaults = the <c>mauve-text</c> library defaults used by SDTT).</summary>
/// <param name="ScalingFactor">c in exp(−c·KL) (SDTT: 5).</param>
/// <param name="Buckets">k-means buckets; ≤ 0 = auto = max(2, round(min(n_p, n_q)/10)).</param>
/// <param name="ExplainedVariance">PCA keeps this fraction of the variance (0.9).</param>
/// <param name="KMeans">k-means restarts and iterations (5, 500).</param>
/// <param name="CurvePoints">Number of mixture weights λ in linspace(1e−6, 1−1e−6) (25).</param>
public sealed record MauveOptions(double ScalingFactor = 5, int Buckets = 0, double ExplainedVariance = 0.9, KMeansOptions? KMeans = null, int CurvePoints = 25);

/// <summary>One MAUVE computation.</summary>
/// <param name="Score">Area under the divergence frontier (0..1; 1 = indistinguishable).</param>
/// <param name="Buckets">Number of k-means buckets.</param>
/// <param name="PcaComponents">PCA dimensions kept.</param>
/// <param name="P">Bucket histogram of the reference set.</param>
/// <param name="Q">Bucket histogram of the model set.</param>
/// <param name="Curve">Frontier points (x, y) sorted by x, endpoints included.</param>
public sealed record MauveResult(double Score, int Buckets, int PcaComponents, double[] P, double[] Q, (double X, double Y)[] Curve);

/// <summary>MAUVE over several seeds.</summary>
/// <param name="Mean">Mean score.</param>
/// <param name="Std">Population standard deviation (numpy's default, ddof = 0).</param>
/// <param name="Scores">Score per seed.</param>
/// <param name="Seeds">The seeds.</param>
/// <param name="Buckets">Number of k-means buckets.</param>
/// <param name="PcaComponents">PCA dimensions kept.</param>
public sealed record MauveSummary(double Mean, double Std, double[] Scores, int[] Seeds, int Buckets, int PcaComponents);

/// <summary>MAUVE (Pillutla et al. 2021) as SDTT computes it (reference F.2): L2-normalised features of both sets, PCA to
/// 90% explained variance on the union, k-means quantisation of the union, histograms p (reference) and q (model) over the
/// buckets, divergence frontier R_λ = λP + (1−λ)Q with points (exp(−c·KL(Q‖R_λ)), exp(−c·KL(P‖R_λ))) plus the
/// endpoints (0, 1) and (1, 0), and the trapezoid area under it. KL in nats.</summary>
public static class Mauve
{
    /// <summary>MAUVE of reference features <paramref name="p"/> [n_p, D] and model features <paramref name="q"/> [n_q, D].</summary>
    public static MauveResult Compute(Tensor p, Tensor q, int seed = 1, MauveOptions? options = null)
    {
        var o = options ?? new MauveOptions();
        if (p.dim() != 2 || q.dim() != 2 || p.shape[1] != q.shape[1]) throw new SdttException("MAUVE: features must be [n, D] matrices of the same width");
        int np_ = (int)p.shape[0], nq = (int)q.shape[0];
        if (np_ < 2 || nq < 2) throw new SdttException("MAUVE needs at least 2 samples per set");
        int k = o.Buckets > 0 ? o.Buckets : AutoBuckets(np_, nq);
        if (k > np_ + nq) throw new SdttException($"MAUVE: {k} buckets for {np_ + nq} points");
        int[] labels;
        int comps;
        using (var scope = NewDisposeScope())
        {
            var all = cat(new[] { p.to(ScalarType.Float64).cpu(), q.to(ScalarType.Float64).cpu() }, 0);
            all = all / all.norm(1, keepdim: true).clamp_min(1e-12);
            var (proj, c) = Pca.Fit(all, o.ExplainedVariance);
            comps = c;
            labels = KMeans.Fit(proj, k, seed + 2, o.KMeans).Labels;
        }
        var hp = Histogram(labels.AsSpan(0, np_), k);
        var hq = Histogram(labels.AsSpan(np_, nq), k);
        var curve = DivergenceCurve(hp, hq, o.ScalingFactor, o.CurvePoints);
        return new MauveResult(Area(curve), k, comps, hp, hq, curve);
    }

    /// <summary>MAUVE for several seeds (SDTT: 1..5) → mean and population std.</summary>
    public static MauveSummary ComputeSeeds(Tensor p, Tensor q, IReadOnlyList<int> seeds, MauveOptions? options = null)
    {
        if (seeds.Count == 0) throw new SdttException("MAUVE: no seeds");
        var runs = seeds.Select(s => Compute(p, q, s, options)).ToArray();
        var scores = runs.Select(r => r.Score).ToArray();
        double mean = scores.Average();
        double std = Math.Sqrt(scores.Select(s => (s - mean) * (s - mean)).Average());
        return new MauveSummary(mean, std, scores, seeds.ToArray(), runs[0].Buckets, runs[0].PcaComponents);
    }

    /// <summary>The library's automatic bucket count max(2, round(min(n_p, n_q)/10)) (Python rounds half to even).</summary>
    public static int AutoBuckets(int np_, int nq) => Math.Max(2, (int)Math.Round(Math.Min(np_, nq) / 10.0, MidpointRounding.ToEven));

    /// <summary>Normalised histogram of labels over k buckets.</summary>
    public static double[] Histogram(ReadOnlySpan<int> labels, int k)
    {
        var h = new double[k];
        foreach (var l in labels) h[l] += 1;
        for (int i = 0; i < k; i++) h[i] /= labels.Length;
        return h;
    }

    /// <summary>KL(a‖b) = Σ a_i ln(a_i / b_i) (terms with a_i = 0 are 0; +∞ if some b_i = 0 &lt; a_i).</summary>
    public static double Kl(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] <= 0) continue;
            if (b[i] <= 0) return double.PositiveInfinity;
            s += a[i] * Math.Log(a[i] / b[i]);
        }
        return Math.Max(0, s); // ≥ 0 mathematically; rounding in r = λp + (1−λ)q can give −1e−17
    }

    /// <summary>Frontier points (exp(−c·KL(Q‖R)), exp(−c·KL(P‖R))) for λ in linspace(1e−6, 1−1e−6, m), plus (0, 1) and
    /// (1, 0), sorted by x.</summary>
    public static (double X, double Y)[] DivergenceCurve(double[] p, double[] q, double scaling = 5, int points = 25)
    {
        var pts = new List<(double X, double Y)> { (0, 1), (1, 0) };
        for (int i = 0; i < points; i++)
        {
            double lam = points == 1 ? 0.5 : 1e-6 + (1 - 2e-6) * i / (points - 1);
            var r = new double[p.Length];
            for (int j = 0; j < p.Length; j++) r[j] = lam * p[j] + (1 - lam) * q[j];
            pts.Add((Math.Exp(-scaling * Kl(q, r)), Math.Exp(-scaling * Kl(p, r))));
        }
        return pts.OrderBy(t => t.X).ThenByDescending(t => t.Y).ToArray();
    }

    /// <summary>Trapezoid area under a curve sorted by x.</summary>
    public static double Area((double X, double Y)[] curve)
    {
        double a = 0;
        for (int i = 1; i < curve.Length; i++) a += (curve[i].X - curve[i - 1].X) * (curve[i].Y + curve[i - 1].Y) / 2;
        return Math.Clamp(a, 0, 1);
    }
}
