namespace Sdtt.Evaluation;

/// <summary>Smoothing of zero n-gram precisions in sentence BLEU.</summary>
public enum BleuSmoothing
{
    /// <summary>None (NLTK method0): any zero precision makes the sentence BLEU 0.</summary>
    None,
    /// <summary>Chen &amp; Cherry (2014) method 1 (NLTK method1, as used by Texygen's self-BLEU): a zero numerator becomes ε = 0.1.</summary>
    Method1,
}

/// <summary>Self-BLEU options.</summary>
/// <param name="MaxOrder">Highest n-gram order (4), with uniform weights 1/MaxOrder.</param>
/// <param name="Subset">Number of hypotheses drawn (without replacement) from the set; ≤ 0 or ≥ n means all.</param>
/// <param name="Seed">Seed of the subset draw.</param>
/// <param name="Smoothing">Zero-precision smoothing (default Chen &amp; Cherry method 1).</param>
public sealed record SelfBleuOptions(int MaxOrder = 4, int Subset = 500, int Seed = 0, BleuSmoothing Smoothing = BleuSmoothing.Method1);

/// <summary>Self-BLEU result.</summary>
/// <param name="Score">Mean sentence BLEU of the hypotheses (0..1; higher = less diverse).</param>
/// <param name="Hypotheses">Number of hypotheses scored.</param>
/// <param name="References">Size of the set every hypothesis is compared with (minus itself).</param>
/// <param name="Options">The settings used.</param>
public sealed record SelfBleuResult(double Score, int Hypotheses, int References, SelfBleuOptions Options)
{
    /// <summary>Sentence BLEU of each drawn hypothesis against all other samples (their mean is <see cref="Score"/>).</summary>
    public double[] HypothesisScores { get; init; } = Array.Empty<double>();
}

/// <summary>Self-BLEU (Zhu et al. 2018, Texygen): each hypothesis (from a seeded subset) is scored by NLTK-style sentence
/// BLEU against ALL other samples of the set as references (clipped counts use the maximum count over references; brevity
/// penalty uses the closest reference length, ties to the shorter); the score is the mean over hypotheses. Works on token ids.</summary>
public static class SelfBleu
{
    /// <summary>Computes self-BLEU over token sequences (at least 2 samples).</summary>
    public static SelfBleuResult Compute(IReadOnlyList<IReadOnlyList<int>> samples, SelfBleuOptions? options = null)
    {
        var o = options ?? new SelfBleuOptions();
        if (o.MaxOrder < 1 || o.MaxOrder > NGrams.MaxOrder) throw new SdttException("self-BLEU: n-gram order must be 1..4");
        int n = samples.Count;
        if (n < 2) throw new SdttException("self-BLEU needs at least 2 samples");

        // For each order and n-gram: the largest count in any sample (and which one) and the second largest, so that
        // "max over all references except the hypothesis itself" is O(1).
        var top = new Dictionary<(int, int, int, int), (int Max1, int Idx1, int Max2)>[o.MaxOrder];
        for (int k = 0; k < o.MaxOrder; k++)
        {
            var d = top[k] = new();
            for (int j = 0; j < n; j++)
                foreach (var (g, c) in NGrams.Count(samples[j], k + 1))
                {
                    var t = d.GetValueOrDefault(g, (Max1: 0, Idx1: -1, Max2: 0));
                    d[g] = c > t.Max1 ? (c, j, t.Max1) : (t.Max1, t.Idx1, Math.Max(t.Max2, c));
                }
        }
        var lengths = samples.Select(s => s.Count).ToArray();
        var hyps = Pick(n, o.Subset, o.Seed);
        double sum = 0;
        var scores = new double[hyps.Length];
        for (int hi = 0; hi < hyps.Length; hi++)
        {
            int h = hyps[hi];
            int hypLen = lengths[h];
            var refLen = ClosestRefLength(lengths, h, hypLen);
            double logSum = 0;
            bool zero = false;
            for (int k = 0; k < o.MaxOrder && !zero; k++)
            {
                long num = 0, total = 0;
                foreach (var (g, c) in NGrams.Count(samples[h], k + 1))
                {
                    var t = top[k][g];
                    int maxRef = t.Idx1 == h ? t.Max2 : t.Max1;
                    num += Math.Min(c, maxRef);
                    total += c;
                }
                long den = Math.Max(1, total);
                if (num == 0)
                {
                    // NLTK returns 0 when there is no unigram match at all, whatever the smoothing.
                    if (k == 0 || o.Smoothing == BleuSmoothing.None) { zero = true; break; }
                    logSum += Math.Log(0.1 / den) / o.MaxOrder;
                }
                else logSum += Math.Log(num / (double)den) / o.MaxOrder;
            }
            if (zero) continue;
            double bp = hypLen > refLen ? 1 : hypLen == 0 ? 0 : Math.Exp(1 - refLen / (double)hypLen);
            scores[hi] = bp * Math.Exp(logSum);
            sum += scores[hi];
        }
        return new SelfBleuResult(sum / hyps.Length, hyps.Length, n - 1, o) { HypothesisScores = scores };
    }

    /// <summary>Sentence BLEU of one hypothesis against explicit references (same rules as <see cref="Compute"/>).</summary>
    public static double Sentence(IReadOnlyList<int> hypothesis, IReadOnlyList<IReadOnlyList<int>> references, int maxOrder = 4, BleuSmoothing smoothing = BleuSmoothing.Method1)
    {
        if (references.Count == 0) throw new SdttException("BLEU needs at least one reference");
        var all = new List<IReadOnlyList<int>> { hypothesis };
        all.AddRange(references);
        return SentenceOnly(all, maxOrder, smoothing);
    }

    static double SentenceOnly(List<IReadOnlyList<int>> all, int maxOrder, BleuSmoothing smoothing)
    {
        // Scores all[0] against all[1..].
        var top = new Dictionary<(int, int, int, int), int>[maxOrder];
        for (int k = 0; k < maxOrder; k++)
        {
            top[k] = new();
            for (int j = 1; j < all.Count; j++)
                foreach (var (g, c) in NGrams.Count(all[j], k + 1))
                    top[k][g] = Math.Max(top[k].GetValueOrDefault(g), c);
        }
        var hyp = all[0];
        int refLen = ClosestRefLength(all.Select(s => s.Count).ToArray(), 0, hyp.Count);
        double logSum = 0;
        for (int k = 0; k < maxOrder; k++)
        {
            long num = 0, total = 0;
            foreach (var (g, c) in NGrams.Count(hyp, k + 1)) { num += Math.Min(c, top[k].GetValueOrDefault(g)); total += c; }
            long den = Math.Max(1, total);
            if (num == 0)
            {
                if (k == 0 || smoothing == BleuSmoothing.None) return 0;
                logSum += Math.Log(0.1 / den) / maxOrder;
            }
            else logSum += Math.Log(num / (double)den) / maxOrder;
        }
        double bp = hyp.Count > refLen ? 1 : hyp.Count == 0 ? 0 : Math.Exp(1 - refLen / (double)hyp.Count);
        return bp * Math.Exp(logSum);
    }

    static int ClosestRefLength(int[] lengths, int self, int hypLen)
    {
        int best = -1;
        for (int j = 0; j < lengths.Length; j++)
        {
            if (j == self) continue;
            int r = lengths[j];
            if (best < 0 || Math.Abs(r - hypLen) < Math.Abs(best - hypLen) || (Math.Abs(r - hypLen) == Math.Abs(best - hypLen) && r < best)) best = r;
        }
        return best;
    }

    /// <summary>Seeded subset of indices (sorted), or all indices.</summary>
    public static int[] Pick(int n, int subset, int seed)
    {
        var idx = Enumerable.Range(0, n).ToArray();
        if (subset <= 0 || subset >= n) return idx;
        var rng = new Random(seed);
        for (int i = n - 1; i > 0; i--) { int j = rng.Next(i + 1); (idx[i], idx[j]) = (idx[j], idx[i]); }
        var pick = idx[..subset];
        Array.Sort(pick);
        return pick;
    }
}
