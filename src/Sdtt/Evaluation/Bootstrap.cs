namespace Sdtt.Evaluation;

/// <summary>A two-sided confidence interval [Lower, Upper].</summary>
public sealed record Interval(double Lower, double Upper)
{
    /// <summary>Whether the interval contains <paramref name="v"/>.</summary>
    public bool Contains(double v) => Lower <= v && v <= Upper;
    /// <summary>The interval mapped through a monotone increasing function (e.g. exp: mean NLL → perplexity).</summary>
    public Interval Map(Func<double, double> f) => new(f(Lower), f(Upper));
    /// <summary>"[lo, hi]" with the given format.</summary>
    public string Format(string fmt) => $"[{Lower.ToString(fmt, System.Globalization.CultureInfo.InvariantCulture)}, {Upper.ToString(fmt, System.Globalization.CultureInfo.InvariantCulture)}]";
}

/// <summary>How intervals are computed: resample count, seed and level (recorded in every report).</summary>
/// <param name="Resamples">Bootstrap resamples (or subsamples) per interval.</param>
/// <param name="Seed">Seed of the resampling (each interval restarts from it, so intervals do not depend on metric order).</param>
/// <param name="Level">Coverage level (0.95).</param>
public sealed record BootstrapOptions(int Resamples = 2000, int Seed = 0, double Level = 0.95);

/// <summary>Percentile bootstrap intervals (Efron): resample items with replacement, recompute the statistic, take the
/// (1 − level)/2 and (1 + level)/2 quantiles. For statistics of a whole set that resampling with replacement would bias
/// (duplicates inflate n-gram overlap and deflate distinct-n), <see cref="HalfSample"/> subsamples without replacement.</summary>
public static class Bootstrap
{
    /// <summary>Interval of the mean of <paramref name="x"/>.</summary>
    public static Interval Mean(IReadOnlyList<double> x, BootstrapOptions? options = null) =>
        Statistic(x.Count, idx => { double s = 0; foreach (var i in idx) s += x[i]; return s / idx.Length; }, options);

    /// <summary>Interval of the ratio Σ num / Σ den over items (a token-weighted mean).</summary>
    public static Interval Ratio(IReadOnlyList<double> num, IReadOnlyList<double> den, BootstrapOptions? options = null)
    {
        if (num.Count != den.Count) throw new SdttException("bootstrap: numerator and denominator differ in length");
        return Statistic(num.Count, idx => { double a = 0, b = 0; foreach (var i in idx) { a += num[i]; b += den[i]; } return a / Math.Max(b, double.Epsilon); }, options);
    }

    /// <summary>Interval of the fraction of true values.</summary>
    public static Interval Proportion(IReadOnlyList<bool> x, BootstrapOptions? options = null) => Mean(x.Select(b => b ? 1.0 : 0.0).ToArray(), options);

    /// <summary>Interval of mean(a) − mean(b) for the SAME items scored twice (paired: one index draw serves both).</summary>
    public static Interval PairedDifference(IReadOnlyList<double> a, IReadOnlyList<double> b, BootstrapOptions? options = null)
    {
        if (a.Count != b.Count) throw new SdttException($"paired bootstrap: {a.Count} and {b.Count} items; paired differences need the same items");
        return Mean(a.Select((v, i) => v - b[i]).ToArray(), options);
    }

    /// <summary>Interval of f(a) − f(b) for two independent sets (each resampled on its own).</summary>
    public static Interval Difference(IReadOnlyList<double> a, IReadOnlyList<double> b, Func<IReadOnlyList<double>, double> f, BootstrapOptions? options = null)
    {
        var o = Check(options, Math.Min(a.Count, b.Count));
        var rng = new Random(o.Seed);
        var stats = new double[o.Resamples];
        var ra = new double[a.Count];
        var rb = new double[b.Count];
        for (int r = 0; r < o.Resamples; r++)
        {
            for (int i = 0; i < ra.Length; i++) ra[i] = a[rng.Next(a.Count)];
            for (int i = 0; i < rb.Length; i++) rb[i] = b[rng.Next(b.Count)];
            stats[r] = f(ra) - f(rb);
        }
        return Percentile(stats, o.Level);
    }

    /// <summary>Percentile bootstrap of any statistic of n items given as the index multiset of one resample.</summary>
    public static Interval Statistic(int n, Func<int[], double> statistic, BootstrapOptions? options = null)
    {
        var o = Check(options, n);
        var rng = new Random(o.Seed);
        var idx = new int[n];
        var stats = new double[o.Resamples];
        for (int r = 0; r < o.Resamples; r++)
        {
            for (int i = 0; i < n; i++) idx[i] = rng.Next(n);
            stats[r] = statistic(idx);
        }
        return Percentile(stats, o.Level);
    }

    /// <summary>Half-sampling without replacement for set-level statistics (distinct-n): the statistic θ on the full set,
    /// and on subsets of ⌊n/2⌋ distinct items. For a mean, a half-sample without replacement has exactly the variance of
    /// the full-set mean (finite-population correction 1 − m/n = 1/2 cancels the halved size), so the spread of the
    /// centred half-sample statistics, added to θ, is the interval; centring on their mean removes the size bias of
    /// set statistics (distinct-n of a smaller set is higher).</summary>
    public static Interval HalfSample(int n, Func<int[], double> statistic, BootstrapOptions? options = null)
    {
        var o = Check(options, n);
        if (n < 4) throw new SdttException("half-sampling needs at least 4 items");
        var rng = new Random(o.Seed);
        var all = Enumerable.Range(0, n).ToArray();
        double full = statistic(all);
        int m = n / 2;
        var stats = new double[o.Resamples];
        var perm = (int[])all.Clone();
        for (int r = 0; r < o.Resamples; r++)
        {
            for (int i = 0; i < m; i++) { int j = i + rng.Next(n - i); (perm[i], perm[j]) = (perm[j], perm[i]); }
            stats[r] = statistic(perm[..m]);
        }
        double centre = stats.Average();
        for (int r = 0; r < stats.Length; r++) stats[r] = full + stats[r] - centre;
        return Percentile(stats, o.Level);
    }

    /// <summary>The (1 ∓ level)/2 empirical quantiles (linear interpolation).</summary>
    public static Interval Percentile(double[] stats, double level)
    {
        var s = (double[])stats.Clone();
        Array.Sort(s);
        return new Interval(Quantile(s, (1 - level) / 2), Quantile(s, (1 + level) / 2));
    }

    static double Quantile(double[] sorted, double q)
    {
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }

    static BootstrapOptions Check(BootstrapOptions? options, int n)
    {
        var o = options ?? new BootstrapOptions();
        if (o.Resamples < 10) throw new SdttException($"bootstrap: at least 10 resamples needed (got {o.Resamples})");
        if (!(o.Level > 0 && o.Level < 1)) throw new SdttException($"bootstrap: level must be in (0, 1) (got {o.Level})");
        if (n < 2) throw new SdttException("bootstrap: at least 2 items are needed for an interval");
        return o;
    }
}
