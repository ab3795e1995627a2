using Sdtt.Evaluation;
using TorchSharp;

namespace Sdtt.Tests.Evaluation;

/// <summary>A context-free model (one fixed distribution over tokens at every position) has an exact likelihood, and for
/// it the diffusion NELBO is exact up to Monte-Carlo error (× (1 − ε) of the schedule): the AR path and the diffusion
/// path must give the same word NLL and the same multiple-choice scores. The bound is four Monte-Carlo standard errors,
/// estimated from independent seeds; a path that scores one token too many (the EOS) exceeds it.</summary>
public class ContextFreeKnownAnswerTests
{
    const double Scale = 0.999; // E[NELBO] = (1 − 1e−3) · exact NLL for the log-linear schedule (see LambadaTests)
    static readonly ConstantDenoiser Model = new(100, c: 4, p: 0.6);
    static FakeJudge Ar() => new(100, (_, next) => -Model.Nll(next));
    static readonly LambadaExample[] Examples =
    {
        Lambada.Split("ab cc"), Lambada.Split("the quick brown fox jumps over the lazy dog dog"), Lambada.Split("xyz abcd"),
    };

    /// <summary>Mean and standard error over seeds of a Monte-Carlo estimate.</summary>
    static (double Mean, double Se) OverSeeds(Func<int, double> estimate, int seeds = 8)
    {
        var v = Enumerable.Range(0, seeds).Select(estimate).ToArray();
        double m = v.Average();
        return (m, Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (seeds - 1) / seeds));
    }

    [Theory]
    [InlineData(0)]   // no limit
    [InlineData(12)]  // the long example's context is cut, identically on both paths
    public void LambadaWordNllAgreesAcrossAnArAndADiffusionPath(int contextTokens)
    {
        var ar = Lambada.EvaluateAr(Ar(), Examples, new LambadaOptions(ContextTokens: contextTokens), LambadaTests.Letters);
        for (int i = 0; i < Examples.Length; i++)
        {
            double exact = LambadaTests.Letters.Encode(Examples[i].Word).Sum(t => Model.Nll(t));
            Assert.Equal(exact, ar.WordNll[i], 4); // the AR path is exact (float32 judge)
            var (mean, se) = OverSeeds(seed => Lambada.EvaluateDiffusion(Model, new[] { Examples[i] },
                new LambadaOptions(Draws: 2000, Seed: seed, ContextTokens: contextTokens), LambadaTests.Letters).WordNll[0]);
            double bound = 4 * se;
            Assert.True(Math.Abs(mean - Scale * exact) <= bound, $"example {i}: NELBO {mean:F4} vs {Scale * exact:F4} ± {bound:F4}");
            // Wrong variant: the word plus the EOS scored (one token more than the AR path) is far outside the bound.
            var seq = new List<int> { 1 };
            seq.AddRange(LambadaTests.Letters.Encode(Examples[i].Prefix));
            int from = seq.Count;
            seq.AddRange(LambadaTests.Letters.Encode(Examples[i].Word));
            seq.Add(1);
            var wrong = OverSeeds(seed => ContinuationNelbo.Estimate(Model, seq, from, seq.Count, 2000, new torch.Generator((ulong)seed)));
            Assert.True(Math.Abs(wrong.Mean - Scale * exact) > bound, "the EOS-scoring variant should exceed the bound");
        }
        var diff = Lambada.EvaluateDiffusion(Model, Examples, new LambadaOptions(Draws: 4, ContextTokens: contextTokens), LambadaTests.Letters);
        Assert.Equal(ar.Truncated, diff.Truncated);
        Assert.Equal(contextTokens > 0 ? 1 : 0, diff.Truncated);
    }

    [Fact]
    public void MultipleChoiceScoresAgreeAcrossAnArAndADiffusionPath()
    {
        var items = new[] { new MultipleChoiceItem("ab", new[] { " cc", " cd", " xyz" }, 0), new MultipleChoiceItem("hello there", new[] { " q", " cccc" }, 1) };
        var ar = MultipleChoice.EvaluateAr(Ar(), items, new MultipleChoiceOptions(), LambadaTests.Letters);
        for (int i = 0; i < items.Length; i++)
            for (int c = 0; c < items[i].Choices.Length; c++)
            {
                double exact = LambadaTests.Letters.Encode(items[i].Choices[c]).Sum(t => Model.Nll(t));
                Assert.Equal(-exact, ar.Scores[i][c], 4);
                int ii = i, cc = c;
                var (mean, se) = OverSeeds(seed => -MultipleChoice.EvaluateDiffusion(Model, new[] { items[ii] },
                    new MultipleChoiceOptions(Draws: 2000, Seed: seed), LambadaTests.Letters).Scores[0][cc]);
                Assert.True(Math.Abs(mean - Scale * exact) <= 4 * se, $"item {i} choice {c}: {mean:F4} vs {Scale * exact:F4} ± {4 * se:F4}");
            }
    }

    [Fact]
    public void ContextWindowDropsTheOldestTokens()
    {
        var (kept, cut) = ContextWindow.Fit(new[] { 1, 2, 3, 4, 5 }, continuationLength: 2, maxTokens: 7);
        Assert.Equal(new[] { 3, 4, 5 }, kept); // BOS + 3 + 2 + EOS slot = 7
        Assert.True(cut);
        Assert.False(ContextWindow.Fit(new[] { 1, 2 }, 2, 7).Truncated);
        Assert.False(ContextWindow.Fit(new[] { 1, 2, 3 }, 2, 0).Truncated);
        Assert.Throws<SdttException>(() => ContextWindow.Fit(new[] { 1 }, 6, 7));
        Assert.Equal(128, ContextWindow.Limit(0, 128));
        Assert.Equal(100, ContextWindow.Limit(100, 128));
        Assert.Equal(100, ContextWindow.Limit(0, 0) + 100);
    }
}
