using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.Diffusion;
using Sdtt.Evaluation;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;

namespace Sdtt.Tests.Evaluation;

public class EvalRunnerTests
{
    /// <summary>The repository root (holds data/sotu).</summary>
    internal static string RepoRoot
    {
        get
        {
            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d is not null && !Directory.Exists(Path.Combine(d.FullName, "data", "sotu"))) d = d.Parent;
            return d?.FullName ?? throw new InvalidOperationException("repository root not found");
        }
    }

    internal static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "sdtt-eval-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>A prepared token folder with a valid split.</summary>
    internal static string TokenFolder(string dir, IEnumerable<int[]> rows, int seqLen)
    {
        Directory.CreateDirectory(dir);
        TokenDataset.Write(Path.Combine(dir, "valid.bin"), rows, seqLen);
        TokenDataset.Write(Path.Combine(dir, "train.bin"), rows, seqLen);
        ModelFolder.WriteJsonAtomic(Path.Combine(dir, TokenDataset.ManifestFile), new JsonObject
        {
            ["seq_len"] = seqLen,
            ["splits"] = new JsonObject { ["train"] = new JsonObject { ["file"] = "train.bin" }, ["valid"] = new JsonObject { ["file"] = "valid.bin" } },
        });
        return dir;
    }

    [Fact]
    public void ValidationNelboMatchesAnalyticDenoiser()
    {
        TorchRuntime.EnsureLoaded();
        var dir = TempDir();
        try
        {
            var rng = new Random(1);
            var rows = Enumerable.Range(0, 1500).Select(_ => Enumerable.Range(0, 16).Select(_ => rng.Next(2, 8)).ToArray()).ToList();
            TokenFolder(dir, rows, 16);
            var model = new ConstantDenoiser(100, c: 4, p: 0.6);
            using var data = TokenDataset.Open(dir, "valid");
            var r = NelboEvaluator.Evaluate(model, data, new NelboOptions(BatchSize: 100, Seed: 2));
            double expected = 0.999 * rows.SelectMany(x => x).Average(t => model.Nll(t));
            Assert.Equal(expected, r.Nll, expected * 0.03);
            Assert.Equal(1500 * 16, r.Tokens);
            Assert.Equal(Math.Exp(r.Nll), r.Ppl, 1e-9);
            var again = NelboEvaluator.Evaluate(model, data, new NelboOptions(BatchSize: 100, Seed: 2));
            Assert.Equal(r.Nll, again.Nll);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void RunsEveryMetricOnFakeModels()
    {
        TorchRuntime.EnsureLoaded();
        var dir = TempDir();
        try
        {
            var rng = new Random(4);
            var samples = Enumerable.Range(0, 24).Select(_ => Enumerable.Range(0, 20).Select(_ => rng.Next(0, 300)).ToArray()).ToList();
            var refPath = Path.Combine(dir, "ref.jsonl");
            SampleFile.Write(refPath, Enumerable.Range(0, 24).Select(_ => Enumerable.Range(0, 20).Select(_ => rng.Next(0, 300)).ToArray()));
            var data = TokenFolder(Path.Combine(dir, "tok"), samples, 20);
            var judge = FakeJudge.Uniform(Gpt2Tokenizer.TextVocabSize);
            var model = new ConstantDenoiser(Gpt2Tokenizer.ModelVocabSize, c: 262, p: 0.5);
            var settings = new EvalSettings
            {
                Metrics = EvalRunner.AllMetrics, NumSamples = 24, SeqLen = 20, Seed = 0, BatchSize = 8,
                Mauve = new MauveOptions(KMeans: new KMeansOptions(2, 50)), MauveSeeds = 2, Draws = 4, Limit = 3,
                LambadaFile = Path.Combine(RepoRoot, "data", "lambada-sotu.jsonl"), McFile = Path.Combine(RepoRoot, "data", "mc-sotu.jsonl"),
                NelboData = data, MauveReference = refPath,
            };
            var report = EvalRunner.Run(new EvalInputs { ModelPath = "fake/const", Diffusion = model, Judge = judge, JudgePath = "uniform", Samples = SampleSet.FromIds(samples), SamplesPath = "mem" }, settings);
            Assert.Equal(Gpt2Tokenizer.TextVocabSize, report.GenPpl!.Perplexity, Gpt2Tokenizer.TextVocabSize * 1e-6);
            Assert.Equal(samples.Average(s => SampleEntropy.Of(s)), report.Entropy!.Value, 12);
            Assert.Equal(SelfBleu.Compute(samples.Cast<IReadOnlyList<int>>().ToList(), new SelfBleuOptions(Seed: 0)).Score, report.SelfBleu!.Score, 12);
            Assert.Equal(4, report.Distinct!.Length);
            Assert.InRange(report.Mauve!.Mean, 0, 1);
            Assert.Equal(3, report.Lambada!.Examples);
            Assert.Equal(3, report.MultipleChoice!.Items);
            Assert.Equal(24 * 20, report.Nelbo!.Tokens);
            Assert.Equal("diffusion", report.ModelKind);

            var path = Path.Combine(dir, "report.json");
            report.Write(path);
            var back = EvalReport.Read(path);
            Assert.Equal(report.GenPpl, back.GenPpl);
            Assert.Equal(report.Distinct, back.Distinct);
            Assert.Equal(report.Lambada, back.Lambada);
            Assert.Contains("\"gen_ppl\"", File.ReadAllText(path));
            Assert.Contains(report.Rows(), r => r.Metric.StartsWith("MAUVE"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ConditionalMauveContinuesEachReferencePrefix()
    {
        TorchRuntime.EnsureLoaded();
        var dir = TempDir();
        try
        {
            var rng = new Random(8);
            var refs = Enumerable.Range(0, 10).Select(i => Enumerable.Range(0, i == 3 ? 5 : 12).Select(_ => rng.Next(0, 500)).ToArray()).ToList();
            SampleFile.Write(Path.Combine(dir, "ref.jsonl"), refs);
            var prompts = new List<int[]>();
            var report = EvalRunner.Run(new EvalInputs
            {
                ModelPath = "m", Diffusion = new ConstantDenoiser(50258, 3, 0.5), Judge = FakeJudge.Uniform(50257),
                PromptSampler = (prompt, n, len, seed) =>
                {
                    prompts.Add(prompt);
                    return Enumerable.Range(0, n).Select(k => prompt.Concat(Enumerable.Range(0, len - prompt.Length).Select(j => (j * 7 + k + seed) % 500)).ToArray()).ToList();
                },
            }, new EvalSettings
            {
                Metrics = new[] { "mauve" }, NumSamples = 12, SeqLen = 10, MauveReference = Path.Combine(dir, "ref.jsonl"),
                Mauve = new MauveOptions(KMeans: new KMeansOptions(1, 20)), MauveSeeds = 1, MauvePrefix = 4, MauveContinuations = 3,
            });
            // 12 samples / 3 continuations = 4 references of ≥ 10 tokens (the 5-token one is skipped), each prompt = its first 4 tokens.
            var eligible = refs.Where(r => r.Length >= 10).Take(4).ToList();
            Assert.Equal(eligible.Select(r => r[..4]), prompts);
            Assert.Equal(4, report.Mauve!.NumReference);
            Assert.Equal(12, report.Mauve.NumModel);
            Assert.Equal(4, report.Mauve.Prefix);
            Assert.Null(report.NumSamples);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void MissingInputsAreClearErrors()
    {
        var model = new ConstantDenoiser(50, 3, 0.5);
        var e = Assert.Throws<SdttException>(() => EvalRunner.Run(new EvalInputs { Diffusion = model }, new EvalSettings { Metrics = new[] { "genppl" } }));
        Assert.Contains("judge", e.Message);
        e = Assert.Throws<SdttException>(() => EvalRunner.Run(new EvalInputs { Diffusion = model }, new EvalSettings { Metrics = new[] { "entropy" } }));
        Assert.Contains("samples", e.Message);
        Assert.Throws<SdttException>(() => EvalRunner.ParseMetrics("genppl,bleurt"));
        Assert.Equal(EvalRunner.AllMetrics.Length, EvalRunner.ParseMetrics("all").Count);
    }

    [Fact]
    public void ComparisonTableAndPlot()
    {
        var dir = TempDir();
        try
        {
            EvalReport R(string model, int? steps, double ppl, double ent) => new()
            {
                Model = model, ModelKind = "diffusion", Label = $"{model}@{steps}", Steps = steps,
                GenPpl = new GenPplSection("sdtt", ppl, Math.Log(ppl), 16, 16 * 127, "judge"), Entropy = ent,
            };
            var reports = new[] { R("teacher", 64, 80, 5.6), R("teacher", 16, 120, 5.7), R("student", 16, 70, 5.4), R("student", 64, 60, 5.3), R("gpt2", null, 40, 5.5) with { ModelKind = "ar" } };
            var rows = EvalComparison.Table(reports);
            Assert.Equal(5, rows.Count);
            Assert.Equal(EvalComparison.Columns.Length, rows[0].Length);
            Assert.Equal("gpt2@", rows[0][0]);
            Assert.Equal(new[] { "16", "64" }, rows.Where(r => r[0].StartsWith("student")).Select(r => r[2]));
            Assert.Equal("70.00", rows.First(r => r[0] == "student@16")[3]);
            var png = Path.Combine(dir, "plot.png");
            int points = EvalComparison.PlotGenPplVsSteps(reports, png);
            Assert.Equal(4 + 4 + 1, points);
            var bytes = File.ReadAllBytes(png);
            Assert.True(bytes.Length > 5000);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        }
        finally { Directory.Delete(dir, true); }
    }
}
