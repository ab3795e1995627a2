using Sdtt.Evaluation;

namespace Sdtt.Tests.Evaluation;

/// <summary>The intervals of <c>sdtt eval</c> cover the truth at about the nominal 95 %, and variants that do not resample
/// (or resample the wrong amount) miss it — so the coverage checks can fail.</summary>
public class BootstrapTests
{
    const int Trials = 300, N = 40;

    /// <summary>Fraction of trials whose interval for the mean of N Exp(1) draws covers the true mean 1.</summary>
    static double Coverage(Func<double[], int, Interval> interval)
    {
        var rng = new Random(12345);
        int hit = 0;
        for (int t = 0; t < Trials; t++)
        {
            var x = Enumerable.Range(0, N).Select(_ => -Math.Log(1 - rng.NextDouble())).ToArray();
            if (interval(x, t).Contains(1.0)) hit++;
        }
        return hit / (double)Trials;
    }

    static readonly Func<int[], double[], double> MeanAt = (idx, x) => idx.Average(i => x[i]);

    [Fact]
    public void PercentileIntervalOfAMeanCoversAtAboutTheNominalRate()
    {
        // Skewed data at n = 40: the percentile bootstrap runs a little under 95 %; a binomial band of 300 trials is ±2.5 %.
        double c = Coverage((x, t) => Bootstrap.Mean(x, new BootstrapOptions(500, Seed: t)));
        Assert.InRange(c, 0.88, 0.98);
        // Wrong variant: "resamples" that are always the original set give a zero-width interval that almost never covers.
        double wrong = Coverage((x, t) => Bootstrap.Statistic(x.Length, idx => x.Average(), new BootstrapOptions(500, Seed: t)));
        Assert.InRange(wrong, 0, 0.05);
    }

    [Fact]
    public void HalfSamplingWithoutReplacementCoversAtAboutTheNominalRate()
    {
        double c = Coverage((x, t) => Bootstrap.HalfSample(x.Length, idx => MeanAt(idx, x), new BootstrapOptions(500, Seed: t)));
        Assert.InRange(c, 0.88, 0.98);
        // Wrong variant: quarter-samples taken as they are (no finite-population argument) are far too wide.
        double wide = Coverage((x, t) =>
        {
            var rng = new Random(t);
            var stats = Enumerable.Range(0, 500).Select(_ => Enumerable.Range(0, x.Length).OrderBy(_ => rng.Next()).Take(x.Length / 4).Average(i => x[i])).ToArray();
            return Bootstrap.Percentile(stats, 0.95);
        });
        Assert.True(wide > 0.98, $"quarter-sample coverage {wide} lies inside the nominal band");
    }

    [Fact]
    public void PairedDifferenceUsesThePairing()
    {
        // b = a + 0.1 + small noise: the paired interval of mean(b − a) is tight around 0.1; the unpaired one is wide.
        var rng = new Random(3);
        var a = Enumerable.Range(0, 60).Select(_ => rng.NextDouble() * 10).ToArray();
        var b = a.Select(v => v + 0.1 + (rng.NextDouble() - 0.5) * 0.02).ToArray();
        var paired = Bootstrap.PairedDifference(b, a, new BootstrapOptions(1000, 1));
        var unpaired = Bootstrap.Difference(b, a, v => v.Average(), new BootstrapOptions(1000, 1));
        Assert.True(paired.Lower > 0.09 && paired.Upper < 0.11, $"paired {paired}");
        Assert.True(unpaired.Lower < 0 && unpaired.Upper > 0.2, $"unpaired {unpaired}");
        Assert.Throws<SdttException>(() => Bootstrap.PairedDifference(a, b[..10]));
    }

    [Fact]
    public void IntervalsAreSeededAndChecked()
    {
        var x = Enumerable.Range(0, 30).Select(i => (double)(i * 7 % 11)).ToArray();
        Assert.Equal(Bootstrap.Mean(x, new BootstrapOptions(200, 5)), Bootstrap.Mean(x, new BootstrapOptions(200, 5)));
        Assert.NotEqual(Bootstrap.Mean(x, new BootstrapOptions(200, 5)), Bootstrap.Mean(x, new BootstrapOptions(200, 6)));
        Assert.Throws<SdttException>(() => Bootstrap.Mean(x, new BootstrapOptions(5)));
        Assert.Throws<SdttException>(() => Bootstrap.Mean(new[] { 1.0 }));
        // A token-weighted ratio equals the plain mean when every weight is the same.
        var w = x.Select(_ => 3.0).ToArray();
        var r = Bootstrap.Ratio(x.Select(v => v * 3).ToArray(), w, new BootstrapOptions(200, 5));
        var m = Bootstrap.Mean(x, new BootstrapOptions(200, 5));
        Assert.Equal(m.Lower, r.Lower, 12);
        Assert.Equal(m.Upper, r.Upper, 12);
    }
}
