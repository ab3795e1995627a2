using Sdtt.Evaluation;

namespace Sdtt.Tests.Evaluation;

public class DiversityTests
{
    static IReadOnlyList<int> S(params int[] x) => x;

    [Fact]
    public void EntropyInNats()
    {
        Assert.Equal(0, SampleEntropy.Of(S(3, 3, 3, 3)), 12);
        Assert.Equal(Math.Log(4), SampleEntropy.Of(S(1, 2, 3, 4)), 12);
        Assert.Equal(Math.Log(2), SampleEntropy.Of(S(1, 1, 2, 2)), 12);
        // p = (1/2, 1/4, 1/4): H = 1.5 ln 2.
        Assert.Equal(1.5 * Math.Log(2), SampleEntropy.Of(S(5, 5, 6, 7)), 12);
        Assert.Equal((0 + Math.Log(4)) / 2, SampleEntropy.Mean(new[] { S(3, 3, 3, 3), S(1, 2, 3, 4) }), 12);
    }

    [Fact]
    public void DistinctNOnHandMadeList()
    {
        var set = new[] { S(1, 2, 1, 2), S(1, 2, 3) };
        var d = DistinctN.All(set);
        Assert.Equal(3.0 / 7, d[0], 12);   // unigrams 1,2,3 of 7
        Assert.Equal(3.0 / 5, d[1], 12);   // (1,2)(2,1)(2,3) of 5
        Assert.Equal(1.0, d[2], 12);       // 3 distinct trigrams of 3
        Assert.Equal(1.0, d[3], 12);       // 1 of 1
        Assert.Equal(0.25, DistinctN.Compute(new[] { S(9, 9, 9, 9) }, 1), 12);
    }

    [Fact]
    public void SelfBleuOfIdenticalSamplesIsOne()
    {
        var s = S(4, 8, 15, 16, 23, 42, 4, 8);
        var r = SelfBleu.Compute(new[] { s, s, s, s });
        Assert.Equal(1.0, r.Score, 12);
        Assert.Equal(4, r.Hypotheses);
    }

    [Fact]
    public void SelfBleuHandComputed()
    {
        // A vs B: p1 = 4/5, p2 = 3/4, p3 = 2/3, p4 = 1/2, equal lengths → BP = 1; symmetric.
        var a = S(1, 2, 3, 4, 5); var b = S(1, 2, 3, 4, 6);
        double expected = Math.Pow(4.0 / 5 * 3 / 4 * 2 / 3 * 1 / 2, 0.25);
        Assert.Equal(expected, SelfBleu.Compute(new[] { a, b }).Score, 12);
        // Against two references the clipped count takes the max over references: C adds the 4-gram (2,3,4,6).
        var c = S(9, 9, 9, 9, 9);
        Assert.Equal(expected, SelfBleu.Sentence(a, new[] { b, c }), 12);
    }

    [Fact]
    public void SelfBleuSmoothingAndBrevity()
    {
        var a = S(1, 2, 3, 4); var rev = S(4, 3, 2, 1);
        // p1 = 1, p2 = 0/3, p3 = 0/2, p4 = 0/1.
        Assert.Equal(0.0, SelfBleu.Sentence(a, new[] { rev }, smoothing: BleuSmoothing.None), 12);
        Assert.Equal(Math.Pow(1 * (0.1 / 3) * (0.1 / 2) * (0.1 / 1), 0.25), SelfBleu.Sentence(a, new[] { rev }), 12);
        // Short hypothesis: p1..p3 = 1, p4 = 0/1 → ε = 0.1; BP = exp(1 − 5/3).
        var h = S(1, 2, 3); var r = S(1, 2, 3, 4, 5);
        Assert.Equal(Math.Exp(1 - 5.0 / 3) * Math.Pow(0.1, 0.25), SelfBleu.Sentence(h, new[] { r }), 12);
        // No unigram match → 0 whatever the smoothing.
        Assert.Equal(0.0, SelfBleu.Sentence(S(7, 8), new[] { S(1, 2) }), 12);
    }

    [Fact]
    public void SelfBleuSubsetIsSeededAndExcludesSelf()
    {
        var rng = new Random(3);
        var set = Enumerable.Range(0, 40).Select(_ => (IReadOnlyList<int>)Enumerable.Range(0, 12).Select(_ => rng.Next(6)).ToArray()).ToList();
        var r1 = SelfBleu.Compute(set, new SelfBleuOptions(Subset: 10, Seed: 7));
        var r2 = SelfBleu.Compute(set, new SelfBleuOptions(Subset: 10, Seed: 7));
        Assert.Equal(10, r1.Hypotheses);
        Assert.Equal(r1.Score, r2.Score);
        // Brute force over the same subset with explicit references.
        var pick = SelfBleu.Pick(40, 10, 7);
        double brute = pick.Average(i => SelfBleu.Sentence(set[i], set.Where((_, j) => j != i).ToList()));
        Assert.Equal(brute, r1.Score, 12);
        Assert.True(r1.Score < 0.999);
    }
}
