namespace Sdtt.Evaluation;

/// <summary>Unigram entropy of samples, in nats (natural log, as the SDTT code computes it with torch): for each sample,
/// the entropy of its token frequency distribution −Σ_v p_v ln p_v with p_v = count(v)/L; then the mean over samples.
/// A sample of L distinct tokens has entropy ln L; a sample repeating one token has entropy 0.</summary>
public static class SampleEntropy
{
    /// <summary>Entropy (nats) of one sample's unigram distribution.</summary>
    public static double Of(IReadOnlyList<int> sample)
    {
        if (sample.Count == 0) return 0;
        var counts = new Dictionary<int, int>();
        foreach (var t in sample) counts[t] = counts.GetValueOrDefault(t) + 1;
        double n = sample.Count, h = 0;
        foreach (var c in counts.Values) { double p = c / n; h -= p * Math.Log(p); }
        return h;
    }

    /// <summary>Mean over samples of the per-sample entropy (nats).</summary>
    public static double Mean(IEnumerable<IReadOnlyList<int>> samples)
    {
        double sum = 0; int n = 0;
        foreach (var s in samples) { sum += Of(s); n++; }
        if (n == 0) throw new SdttException("entropy: no samples");
        return sum / n;
    }
}
