using Sdtt.Evaluation;

namespace Sdtt.Tests.Evaluation;

/// <summary><c>sdtt eval compare</c>'s differences: a student drawn from the teacher's distribution is a match at enough
/// samples, a shifted one is not, too few samples leave it undecided, and paired item scores give paired intervals.</summary>
public class EvalDifferencesTests
{
    static EvalReport Report(string label, string kind, int? steps, double nllShift, int n, int seed, bool[]? lambada = null)
    {
        var rng = new Random(seed);
        var nll = Enumerable.Range(0, n).Select(_ => 5 + nllShift + 0.1 * Normal(rng)).ToArray();
        var ent = Enumerable.Range(0, n).Select(_ => 4 + 0.02 * Normal(rng)).ToArray();
        return new EvalReport
        {
            Model = label, Label = label, ModelKind = kind, Steps = steps,
            GenPpl = new GenPplSection("sdtt", Math.Exp(nll.Average()), nll.Average(), n, n * 10, "judge"),
            Entropy = ent.Average(),
            Lambada = lambada is null ? null : new LambadaSection(kind, lambada.Count(c => c) / (double)lambada.Length, 1, 0, lambada.Length, 0, "lambada.jsonl"),
            Items = new ItemScores { SampleNll = nll, SampleEntropy = ent, LambadaCorrect = lambada, LambadaWordNll = lambada?.Select(c => c ? 1.0 : 3.0).ToArray() },
        };
    }

    static double Normal(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    [Fact]
    public void MatchNeedsTheWholeIntervalInsideTheMargin()
    {
        var teacher = Report("teacher@64", "diffusion", 64, 0, 256, 1);
        var same = Report("student-r1@32", "diffusion", 32, 0, 256, 2);
        var worse = Report("student-r2@16", "diffusion", 16, 0.2, 256, 3);
        var few = Report("student-r3@8", "diffusion", 8, 0, 3, 4);
        var all = new[] { same, teacher, worse, few };
        Assert.Same(teacher, EvalDifferences.Baseline(all));
        var c = EvalDifferences.Compare(all, teacher, options: new BootstrapOptions(1000, 0));
        Assert.Equal(3, c.Count);
        Assert.Equal("match", c.Single(x => x.Label == same.Label).Verdict);
        var w = c.Single(x => x.Label == worse.Label);
        Assert.Equal("no match", w.Verdict);
        var wp = w.Differences.Single(d => d.Metric.StartsWith("gen. perplexity"));
        Assert.Equal(Math.Exp(0.2) - 1, wp.Difference, 0.03);
        Assert.True(wp.Ci.Contains(wp.Difference) && wp.Ci.Lower > 0.05);
        Assert.Equal("undecided", c.Single(x => x.Label == few.Label).Verdict);
        // The margin decides: with a 30 % margin the shifted student counts as equivalent.
        var loose = EvalDifferences.Compare(worse, teacher, new EquivalenceMargins(GenPplRelative: 0.3), new BootstrapOptions(1000, 0));
        Assert.Equal("match", loose.Verdict);
        Assert.Contains("| student-r2@16 | **overall**", EvalDifferences.Markdown(c, new EquivalenceMargins(), new BootstrapOptions(1000, 0)));
    }

    [Fact]
    public void LambadaDifferencesArePairedPerItem()
    {
        var rng = new Random(5);
        var t = Enumerable.Range(0, 200).Select(_ => rng.NextDouble() < 0.5).ToArray();
        var s = t.Select((v, i) => i % 20 == 0 ? !v : v).ToArray(); // differs on 10 of 200 items
        var teacher = Report("teacher@64", "diffusion", 64, 0, 50, 1, t);
        var student = Report("student@16", "diffusion", 16, 0, 50, 2, s);
        var c = EvalDifferences.Compare(student, teacher, options: new BootstrapOptions(1000, 0));
        var acc = c.Differences.Single(d => d.Metric == "LAMBADA accuracy");
        Assert.True(acc.Paired);
        // Unpaired, two sets of 200 coin flips give an interval about ±10 points wide; paired, a few points.
        Assert.True(acc.Ci.Upper - acc.Ci.Lower < 0.08, $"paired interval {acc.Ci}");
        var unpaired = Bootstrap.Difference(s.Select(v => v ? 1.0 : 0).ToArray(), t.Select(v => v ? 1.0 : 0).ToArray(), v => v.Average(), new BootstrapOptions(1000, 0));
        Assert.True(unpaired.Upper - unpaired.Lower > 0.15, $"unpaired interval {unpaired}");
        // Different item sets are not paired (no LAMBADA difference at all).
        var other = Report("student@16", "diffusion", 16, 0, 50, 2, s[..100]);
        Assert.DoesNotContain(EvalDifferences.Compare(other, teacher).Differences, d => d.Metric.StartsWith("LAMBADA"));
    }
}
