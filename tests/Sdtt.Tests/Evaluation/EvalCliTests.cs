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

            // Bad input is a one-line error with exit code 1.
            Assert.Equal(1, Sdtt("eval", "--model", Path.Combine(dir, "nope"), "--metrics", "entropy"));
            Assert.Equal(1, Sdtt("eval", "--model", Path.Combine(dir, "model"), "--metrics", "entropy,bogus"));
        }
        finally { Directory.Delete(dir, true); }
    }
}
