using Sdtt.Cli;
using Sdtt.Data;
using Sdtt.Evaluation;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;

namespace Sdtt.Tests.Evaluation;

public class EvalCliTests
{
    static int Sdtt(params string[] args) => (int)typeof(CliRunner).Assembly.EntryPoint!.Invoke(null, new object[] { args })!;

    [Fact]
    public void EvalAndCompareRunEndToEndOnATinyDiffusionModel()
    {
        TorchRuntime.EnsureLoaded();
        var dir = EvalRunnerTests.TempDir();
        try
        {
            TorchSharp.torch.manual_seed(0);
            using (var dit = new Dit(DitConfig.Tiny with { ModelLength = 64 })) ModelFolder.SaveDit(Path.Combine(dir, "model"), dit);
            var rng = new Random(2);
            var rows = Enumerable.Range(0, 12).Select(_ => Enumerable.Range(0, 24).Select(_ => rng.Next(0, 50256)).ToArray()).ToList();
            SampleFile.Write(Path.Combine(dir, "samples.jsonl"), rows);
            EvalRunnerTests.TokenFolder(Path.Combine(dir, "tok"), rows, 24);
            var root = EvalRunnerTests.RepoRoot;
            string report = Path.Combine(dir, "r.json");
            int rc = Sdtt("eval", "--model", Path.Combine(dir, "model"), "--samples", Path.Combine(dir, "samples.jsonl"),
                "--metrics", "entropy,selfbleu,distinct,lambada,mc,nelbo", "--data", Path.Combine(root, "data", "lambada-sotu.jsonl"),
                Path.Combine(root, "data", "mc-sotu.jsonl"), Path.Combine(dir, "tok"), "--limit", "2", "--draws", "2", "--device", "cpu",
                "--out", report);
            Assert.Equal(0, rc);
            var r = EvalReport.Read(report);
            Assert.Equal("diffusion", r.ModelKind);
            Assert.Equal(12, r.NumSamples);
            Assert.Equal(rows.Average(x => SampleEntropy.Of(x)), r.Entropy!.Value, 9);
            Assert.Equal(2, r.Lambada!.Examples);
            Assert.Equal(2, r.MultipleChoice!.Items);
            Assert.Equal(12 * 24, r.Nelbo!.Tokens);
            Assert.True(r.Nelbo.Nll > 0 && double.IsFinite(r.Nelbo.Nll));

            Assert.Equal(0, Sdtt("eval", "compare", "--reports", report, report, "--out", Path.Combine(dir, "cmp")));
            Assert.True(File.Exists(Path.Combine(dir, "cmp", "comparison.md")));
            Assert.True(File.Exists(Path.Combine(dir, "cmp", "comparison.json")));

            // "all" runs what its inputs allow: no judge → no genppl/MAUVE; no data → no LAMBADA/MC/NELBO.
            string allReport = Path.Combine(dir, "all.json");
            Assert.Equal(0, Sdtt("eval", "--model", Path.Combine(dir, "model"), "--samples", Path.Combine(dir, "samples.jsonl"),
                "--metrics", "all", "--device", "cpu", "--out", allReport));
            var all = EvalReport.Read(allReport);
            Assert.Null(all.GenPpl);
            Assert.Null(all.Lambada);
            Assert.NotNull(all.SelfBleu);
            Assert.NotNull(all.Distinct);

            // --bf16 keeps the evaluated model's weights in bf16: the NELBO moves by rounding only, and the label says so.
            string bfReport = Path.Combine(dir, "bf16.json");
            Assert.Equal(0, Sdtt("eval", "--model", Path.Combine(dir, "model"), "--metrics", "nelbo", "--data", Path.Combine(dir, "tok"), "--limit", "2", "--draws", "2",
                "--device", "cpu", "--bf16", "--out", bfReport));
            var bf = EvalReport.Read(bfReport);
            Assert.Equal("model-bf16", bf.Label);
            Assert.Equal(r.Nelbo.Tokens, bf.Nelbo!.Tokens);
            Assert.InRange(bf.Nelbo.Nll, r.Nelbo.Nll - 0.02, r.Nelbo.Nll + 0.02);

            // Bad input is a one-line error with exit code 1.
            Assert.Equal(1, Sdtt("eval", "--model", Path.Combine(dir, "nope"), "--metrics", "entropy"));
            Assert.Equal(1, Sdtt("eval", "--model", Path.Combine(dir, "model"), "--metrics", "entropy,bogus"));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void EvalSamplesAndJudgesWithTinyModels()
    {
        TorchRuntime.EnsureLoaded();
        var dir = EvalRunnerTests.TempDir();
        try
        {
            TorchSharp.torch.manual_seed(1);
            using (var dit = new Dit(DitConfig.Tiny with { ModelLength = 32 })) ModelFolder.SaveDit(Path.Combine(dir, "dit"), dit);
            using (var gpt = new GptModel(GptConfig.Tiny with { NPositions = 64 })) GptModelFolder.Save(Path.Combine(dir, "gpt"), gpt);
            var rng = new Random(5);
            var refRows = Enumerable.Range(0, 8).Select(_ => Enumerable.Range(0, 16).Select(_ => rng.Next(0, 50256)).ToArray());
            SampleFile.Write(Path.Combine(dir, "ref.jsonl"), refRows);
            string r1 = Path.Combine(dir, "dit-2.json"), r2 = Path.Combine(dir, "dit-4.json"), r3 = Path.Combine(dir, "gpt.json");
            foreach (var (steps, outp) in new[] { ("2", r1), ("4", r2) })
                Assert.Equal(0, Sdtt("eval", "--model", Path.Combine(dir, "dit"), "--judge", Path.Combine(dir, "gpt"), "--steps", steps,
                    "--num-samples", "8", "--seq-len", "16", "--metrics", "genppl,selfbleu,distinct,mauve", "--data", "mauve=" + Path.Combine(dir, "ref.jsonl"),
                    "--mauve-seeds", "2", "--device", "cpu", "--out", outp, "--save-samples", Path.Combine(dir, $"s{steps}.jsonl")));
            var rep = EvalReport.Read(r1);
            Assert.Equal(2, rep.Steps);
            Assert.Equal(8, rep.NumSamples);
            Assert.True(rep.GenPpl!.Perplexity > 1 && double.IsFinite(rep.GenPpl.Perplexity));
            Assert.NotNull(rep.Entropy);
            Assert.InRange(rep.Mauve!.Mean, 0, 1);
            var saved = SampleFile.Read(Path.Combine(dir, "s2.jsonl"));
            Assert.Equal(8, saved.Tokens.Count);
            Assert.All(saved.Tokens, t => Assert.Equal(16, t.Length));
            Assert.All(saved.Tokens.SelectMany(t => t), v => Assert.InRange(v, 0, 50256));
            // The same samples re-scored from the file give the same generative perplexity.
            Assert.Equal(0, Sdtt("eval", "--model", Path.Combine(dir, "dit"), "--judge", Path.Combine(dir, "gpt"), "--samples", Path.Combine(dir, "s2.jsonl"),
                "--metrics", "genppl", "--device", "cpu", "--out", Path.Combine(dir, "again.json")));
            Assert.Equal(rep.GenPpl.Perplexity, EvalReport.Read(Path.Combine(dir, "again.json")).GenPpl!.Perplexity, 1e-6 * rep.GenPpl.Perplexity);

            // An AR model is evaluated with its own samples and teacher-forced LAMBADA.
            Assert.Equal(0, Sdtt("eval", "--model", Path.Combine(dir, "gpt"), "--judge", Path.Combine(dir, "gpt"), "--num-samples", "4",
                "--seq-len", "12", "--metrics", "genppl,lambada", "--data", Path.Combine(EvalRunnerTests.RepoRoot, "data", "lambada-sotu.jsonl"),
                "--limit", "3", "--device", "cpu", "--out", r3));
            var ar = EvalReport.Read(r3);
            Assert.Equal("ar", ar.ModelKind);
            Assert.Equal("ar", ar.Lambada!.Kind);
            Assert.Null(ar.Steps);

            Assert.Equal(0, Sdtt("eval", "compare", "--reports", r1, r2, r3, "--out", Path.Combine(dir, "cmp")));
            Assert.True(new FileInfo(Path.Combine(dir, "cmp", "genppl_vs_steps.png")).Length > 5000);
        }
        finally { Directory.Delete(dir, true); }
    }
}
