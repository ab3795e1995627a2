using System.Text.Json.Nodes;
using Sdtt.Cli;
using Sdtt.IO;
using Sdtt.Native;
using Sdtt.Tests.Evaluation;

namespace Sdtt.Tests.Cli;

/// <summary>The main job (`sdtt pipeline`) end to end at its CI size: every stage runs and leaves its artefacts, and a
/// re-run skips the finished stages.</summary>
[Collection(global::Sdtt.Tests.Distillation.GlobalTorchRngCollection.Name)]
public class PipelineCommandTests
{
    static int Sdtt(params string[] args) => (int)typeof(CliRunner).Assembly.EntryPoint!.Invoke(null, new object[] { args })!;

    [Fact]
    public void TinyPipelineRunsEveryStageAndResumes()
    {
        TorchRuntime.EnsureLoaded();
        var dir = EvalRunnerTests.TempDir();
        try
        {
            var input = Path.Combine(EvalRunnerTests.RepoRoot, "data", "sotu");
            var outDir = Path.Combine(dir, "run");
            Assert.Equal(0, Sdtt("pipeline", "--preset", "tiny", "--input", input, "--out", outDir));
            Assert.True(File.Exists(Path.Combine(outDir, "data", "manifest.json")));
            Assert.True(File.Exists(Path.Combine(outDir, "mdlm", "loss.png")));
            Assert.True(File.Exists(Path.Combine(outDir, "ar", "model", "model.safetensors")));
            // Two rounds: teacher 32 steps → students for 16 and 8 steps, each a loadable model folder.
            foreach (var round in new[] { "round-1-steps-16", "round-2-steps-8" })
            {
                var cfg = ModelFolder.ReadConfigJson(Path.Combine(outDir, "sdtt", "rounds", round, "ema"));
                Assert.NotNull(cfg["sdtt"]);
                using var m = ModelFolder.LoadDit(Path.Combine(outDir, "sdtt", "rounds", round, "ema"));
            }
            // The comparison holds one entry per evaluated model and step count (the teacher at N0 = 32, both students at
            // their own steps, the teacher at the last student's steps), each with its generative perplexity.
            var reportFiles = Directory.GetFiles(Path.Combine(outDir, "eval"), "*-*.json");
            Assert.Equal(new[] { "student-r1-16.json", "student-r2-8.json", "teacher-32.json", "teacher-8.json" },
                reportFiles.Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
            var cmp = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "eval", "comparison.json")))!.AsArray();
            Assert.Equal(reportFiles.Length, cmp.Count);
            foreach (var entry in cmp)
                Assert.True(entry!["gen_ppl"]?["perplexity"]?.GetValue<double>() is > 1, entry.ToJsonString());
            Assert.True(File.Exists(Path.Combine(outDir, "eval", "genppl_vs_steps.png")));
            foreach (var f in reportFiles)
            {
                var r = JsonNode.Parse(File.ReadAllText(f))!;
                Assert.True(r.ToJsonString().Contains("entropy"), f);
            }
            // A second run finds every stage done.
            var stamp = File.GetLastWriteTimeUtc(Path.Combine(outDir, "mdlm", "model", "model.safetensors"));
            Assert.Equal(0, Sdtt("pipeline", "--preset", "tiny", "--input", input, "--out", outDir));
            Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(outDir, "mdlm", "model", "model.safetensors")));
            // A stage interrupted after a checkpoint (here: before its final model) resumes instead of starting over:
            // its checkpoints and metrics are kept, and the model folder comes back.
            var lastJson = Path.Combine(outDir, "mdlm", "checkpoints", "last.json");
            var checkpointStamp = File.GetLastWriteTimeUtc(lastJson);
            var metricsLines = File.ReadAllLines(Path.Combine(outDir, "mdlm", "metrics.jsonl")).Length;
            Directory.Delete(Path.Combine(outDir, "mdlm", "model"), true);
            Assert.Equal(0, Sdtt("pipeline", "--preset", "tiny", "--input", input, "--out", outDir));
            Assert.True(File.Exists(Path.Combine(outDir, "mdlm", "model", "config.json")));
            Assert.Equal(checkpointStamp, File.GetLastWriteTimeUtc(lastJson));
            Assert.Equal(metricsLines, File.ReadAllLines(Path.Combine(outDir, "mdlm", "metrics.jsonl")).Length);
            // Bad input: one clear error, non-zero exit.
            Assert.Equal(1, Sdtt("pipeline", "--preset", "huge", "--input", input, "--out", outDir));
            Assert.Equal(1, Sdtt("pipeline", "--input", Path.Combine(dir, "missing"), "--out", outDir));
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch { }
        }
    }
}
