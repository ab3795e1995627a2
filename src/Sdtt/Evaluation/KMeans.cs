using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>k-means options.</summary>
/// <param name="Redos">Independent restarts; the run with the lowest inertia wins (faiss nredo, MAUVE default 5).</param>
/// <param name="MaxIterations">Lloyd iterations per run (MAUVE default 500); a run stops early when no assignment changes.</param>
public sealed record KMeansOptions(int Redos = 5, int MaxIterations = 500);

/// <summary>k-means result: labels [n] and the inertia (sum of squared distances to the assigned centre).</summary>
public sealed record KMeansResult(int[] Labels, double Inertia, int Iterations);

/// <summary>Lloyd's k-means with k-means++ initialisation (float64, any device). Empty clusters keep their previous centre.</summary>
public static class KMeans
{
    /// <summary>Clusters the rows of <paramref name="data"/> [n, d] into <paramref name="k"/> groups.</summary>
    public static KMeansResult Fit(Tensor data, int k, int seed, KMeansOptions? options = null)
    {
        var o = options ?? new KMeansOptions();
        long n = data.shape[0];
        if (k < 1 || k > n) throw new SdttException($"k-means: {k} clusters for {n} points");
        KMeansResult? best = null;
        var rng = new Random(seed);
        for (int r = 0; r < Math.Max(1, o.Redos); r++)
        {
            var res = Run(data, k, rng, o.MaxIterations);
            if (best is null || res.Inertia < best.Inertia) best = res;
        }
        return best!;
    }

    static KMeansResult Run(Tensor data, int k, Random rng, int maxIter)
    {
        using var scope = NewDisposeScope();
        var x = data.to(ScalarType.Float64);
        long n = x.shape[0];
        var sq = x.square().sum(1);                                   // [n]
        var centres = InitPlusPlus(x, sq, k, rng);                    // [k, d]
        Tensor? labels = null;
        int it = 0;
        Tensor dist = null!;
        for (; it < Math.Max(1, maxIter); it++)
        {
            dist = (sq.unsqueeze(1) - 2 * x.matmul(centres.t()) + centres.square().sum(1).unsqueeze(0)).clamp_min(0);
            var newLabels = dist.argmin(1);
            bool same = labels is not null && newLabels.eq(labels).all().item<bool>();
            labels = newLabels;
            if (same) break;
            var sums = zeros(k, x.shape[1], dtype: ScalarType.Float64, device: x.device).index_add(0, labels, x, 1);
            var counts = zeros(k, dtype: ScalarType.Float64, device: x.device).index_add(0, labels, ones(n, dtype: ScalarType.Float64, device: x.device), 1);
            var empty = counts.eq(0).unsqueeze(1);
            centres = where(empty, centres, sums / counts.clamp_min(1).unsqueeze(1));
        }
        dist = (sq.unsqueeze(1) - 2 * x.matmul(centres.t()) + centres.square().sum(1).unsqueeze(0)).clamp_min(0);
        var final = dist.argmin(1);
        double inertia = dist.gather(1, final.unsqueeze(1)).sum().item<double>();
        var lab = final.cpu().data<long>().Select(v => (int)v).ToArray();
        return new KMeansResult(lab, inertia, it + 1);
    }

    /// <summary>k-means++ (Arthur &amp; Vassilvitskii 2007): first centre uniform, each next one with probability ∝ D(x)².</summary>
    static Tensor InitPlusPlus(Tensor x, Tensor sq, int k, Random rng)
    {
        long n = x.shape[0];
        var chosen = new List<long> { rng.NextInt64(n) };
        var d2 = (sq - 2 * x.matmul(x[chosen[0]]) + sq[chosen[0]]).clamp_min(0);
        for (int c = 1; c < k; c++)
        {
            var w = d2.cpu().data<double>().ToArray();
            double total = w.Sum();
            long pick;
            if (total <= 0) pick = rng.NextInt64(n);
            else
            {
                double u = rng.NextDouble() * total, acc = 0;
                pick = n - 1;
                for (long i = 0; i < n; i++) { acc += w[i]; if (acc > u) { pick = i; break; } }
            }
            chosen.Add(pick);
            var dNew = (sq - 2 * x.matmul(x[pick]) + sq[pick]).clamp_min(0);
            d2 = minimum(d2, dNew);
        }
        var idx = tensor(chosen.ToArray(), device: x.device);
        return x.index_select(0, idx);
    }
}
