namespace Sdtt.Evaluation;

/// <summary>distinct-n (Li et al. 2016) over a set of samples: number of unique n-grams divided by the total number of
/// n-grams, pooled over the whole set.</summary>
public static class DistinctN
{
    /// <summary>distinct-n for one order n (1..4); 0 when the set has no n-gram.</summary>
    public static double Compute(IEnumerable<IReadOnlyList<int>> samples, int n)
    {
        var unique = new HashSet<(int, int, int, int)>();
        long total = 0;
        foreach (var s in samples)
            for (int i = 0; i + n <= s.Count; i++) { unique.Add(NGrams.At(s, i, n)); total++; }
        return total == 0 ? 0 : unique.Count / (double)total;
    }

    /// <summary>distinct-1..distinct-<paramref name="maxOrder"/>, index 0 = distinct-1.</summary>
    public static double[] All(IReadOnlyList<IReadOnlyList<int>> samples, int maxOrder = NGrams.MaxOrder) =>
        Enumerable.Range(1, maxOrder).Select(n => Compute(samples, n)).ToArray();
}
