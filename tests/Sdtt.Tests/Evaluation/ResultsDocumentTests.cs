using Sdtt.Evaluation;

namespace Sdtt.Tests.Evaluation;

/// <summary>docs/results.md from a synthetic run folder: the table with intervals, the differences, and a verdict per
/// paper claim that follows the numbers; an empty run says it has not been run.</summary>
public class ResultsDocumentTests
{
    static EvalReport R(string label, string model, string kind, int? steps, double shift, int seed, bool[]? lambada = null)
    {
        var rng = new Random(seed);
        var nll = Enumerable.Range(0, 128).Select(_ => 7 + shift + 0.1 * (rng.NextDouble() - 0.5)).ToArray();
        var ent = Enumerable.Range(0, 128).Select(_ => 4 + 0.01 * (rng.NextDouble() - 0.5)).ToArray();
        return new EvalReport
        {
            Model = model, Label = label, ModelKind = kind, Steps = steps, NumSamples = 128, Judge = "run/ar/model",
            GenPpl = new GenPplSection("sdtt", Math.Exp(nll.Average()), nll.Average(), 128, 128 * 127, "run/ar/model") { PerplexityCi = new Interval(1, 2) },
            Entropy = ent.Average(), EntropyCi = new Interval(3.9, 4.1),
            Lambada = lambada is null ? null : new LambadaSection(kind, lambada.Count(c => c) / (double)lambada.Length, 10, 2, lambada.Length, 16, "lambada.jsonl"),
            Items = new ItemScores { SampleNll = nll, SampleEntropy = ent, LambadaCorrect = lambada },
            Intervals = new IntervalInfo(2000, 0, 0.95, EvalRunner.IntervalMethod),
            Seconds = new() { ["sampling"] = 64 },
        };
    }

    [Fact]
    public void VerdictsFollowTheNumbers()
    {
        var dir = EvalRunnerTests.TempDir();
        try
        {
            var eval = Directory.CreateDirectory(Path.Combine(dir, "run", "eval")).FullName;
            var lam = Enumerable.Range(0, 100).Select(i => i % 3 == 0).ToArray();
            R("teacher@64", "run/mdlm/model", "diffusion", 64, 0, 1, lam).Write(Path.Combine(eval, "teacher-64.json"));
            R("teacher@8", "run/mdlm/model", "diffusion", 8, 0.3, 2).Write(Path.Combine(eval, "teacher-8.json"));
            R("student-r1@32", "run/sdtt/rounds/round-1-steps-32/ema", "diffusion", 32, 0, 3, lam).Write(Path.Combine(eval, "student-r1-32.json"));
            R("student-r2@16", "run/sdtt/rounds/round-2-steps-16/ema", "diffusion", 16, 0.001, 4, lam).Write(Path.Combine(eval, "student-r2-16.json"));
            R("ar-baseline-nucleus", "run/ar-baseline/model", "ar", null, 0.5, 5).Write(Path.Combine(eval, "ar-baseline-nucleus.json"));
            File.WriteAllText(Path.Combine(eval, "comparison.json"), "[]");
            File.WriteAllText(Path.Combine(dir, "run", "pipeline.json"), "{\"machine\": \"AMD EPYC, 2 cores\", \"total_seconds\": 4200}");
            var md = ResultsDocument.Build(Path.Combine(dir, "run"), Path.Combine(dir, "results.md"), options: new BootstrapOptions(500, 0));
            Assert.Contains("AMD EPYC, 2 cores", md);
            Assert.Contains("70.0 min", md);
            Assert.Contains("| teacher@64 | 64 |", md);
            Assert.Contains("| students at 16–32 steps match the teacher at full steps (same entropy) | **reproduced** |", md);
            Assert.Contains("| students beat AR with nucleus sampling (gen. perplexity) | **reproduced** |", md);
            Assert.Contains("| LAMBADA accuracy is kept by distillation | **reproduced** |", md);
            Assert.Contains("| reverse KL beats MSE and TVD on LAMBADA | **not decidable** |", md);
            Assert.Contains("| (check) the teacher at 64 steps is better than at 8 | **reproduced** |", md);
            // A student far from the teacher turns the first verdict.
            R("student-r2@16", "run/sdtt/rounds/round-2-steps-16/ema", "diffusion", 16, 0.4, 4, lam).Write(Path.Combine(eval, "student-r2-16.json"));
            md = ResultsDocument.Build(Path.Combine(dir, "run"), Path.Combine(dir, "results.md"), options: new BootstrapOptions(500, 0));
            Assert.Contains("| students at 16–32 steps match the teacher at full steps (same entropy) | **not reproduced** |", md);

            // No reports: the page says the run has not happened and holds no numbers.
            Directory.CreateDirectory(Path.Combine(dir, "empty"));
            var empty = ResultsDocument.Build(Path.Combine(dir, "empty"), "docs/results.md");
            Assert.Contains("has not been run yet", empty);
            Assert.DoesNotContain("|", empty);
            Assert.Throws<SdttException>(() => ResultsDocument.Build(Path.Combine(dir, "missing"), "x.md"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void PilotSpreadSizesTheSampleCount()
    {
        // n = 2 (1.96 σ / (ln 1.05 / 2))²: σ = 0.05 → 32 → the floor of 64; σ = 0.1 → 129.2 → 136 (batches of 8), capped by the budget.
        var pilot = Enumerable.Range(0, 16).Select(i => 5 + (i % 2 == 0 ? 0.05 : -0.05) * Math.Sqrt(15.0 / 16)).ToArray();
        Assert.Equal(64, SampleSizing.FromPilot(pilot).Samples);
        var wide = pilot.Select(v => 5 + (v - 5) * 2).ToArray();
        var (n, required, sigma) = SampleSizing.FromPilot(wide);
        Assert.Equal(0.1, sigma, 6);
        Assert.Equal(136, required);
        Assert.Equal(136, n);
        Assert.Equal(128, SampleSizing.FromPilot(wide, max: 128).Samples);
        Assert.Throws<SdttException>(() => SampleSizing.FromPilot(new[] { 1.0 }));
    }
}
