namespace Sdtt.Evaluation;

/// <summary>How many samples per model an evaluation needs, from a pilot's per-sample spread: the gen. perplexity
/// difference of two independent sample sets of n has a 95 % half-width of about 1.96 · σ · √(2/n) in log-perplexity
/// (σ = standard deviation of the per-sample mean NLL); n is chosen so that this half-width is half the equivalence
/// margin ln(1 + margin), leaving the other half for a real difference.</summary>
public static class SampleSizing
{
    /// <summary>Samples per model (the requirement rounded up to whole batches of 8, clamped to [<paramref name="min"/>,
    /// <paramref name="max"/>] — the max is the time budget), the unclamped requirement, and the pilot's σ.</summary>
    public static (int Samples, int Required, double Sigma) FromPilot(IReadOnlyList<double> pilotSampleNll, double margin = 0.05, int min = 64, int max = 512)
    {
        if (pilotSampleNll.Count < 2) throw new SdttException("sample sizing: the pilot needs at least 2 samples");
        if (!(margin > 0)) throw new SdttException("sample sizing: the margin must be > 0");
        double m = pilotSampleNll.Average();
        double sigma = Math.Sqrt(pilotSampleNll.Sum(v => (v - m) * (v - m)) / (pilotSampleNll.Count - 1));
        double halfWidth = Math.Log(1 + margin) / 2;
        double n = 2 * Math.Pow(1.96 * sigma / halfWidth, 2);
        int required = (int)Math.Min(int.MaxValue / 2, Math.Ceiling(n / 8) * 8); // whole sampler batches of 8
        return (Math.Clamp(required, min, max), required, sigma);
    }
}
