using Sdtt.Cli;
using Sdtt.Tests.Evaluation;

namespace Sdtt.Tests.Cli;

/// <summary>The quality preset's size overrides and the results page command, through the CLI (bad input: exit 1 before
/// any work).</summary>
[Collection("torch-threads")]
public class QualityPresetCliTests
{
    static int Sdtt(params string[] args) => (int)typeof(CliRunner).Assembly.EntryPoint!.Invoke(null, new object[] { args })!;

    [Fact]
    public void BadPresetOverridesFailBeforeAnyWork()
    {
        var dir = EvalRunnerTests.TempDir();
        try
        {
            var input = Path.Combine(EvalRunnerTests.RepoRoot, "data", "sotu");
            var outDir = Path.Combine(dir, "run");
            Assert.Equal(1, Sdtt("pipeline", "--preset", "quality", "--input", input, "--out", outDir, "--preset-set", "rounds=9"));
            Assert.Equal(1, Sdtt("pipeline", "--preset", "quality", "--input", input, "--out", outDir, "--preset-set", "colour=3"));
            Assert.Equal(1, Sdtt("pipeline", "--preset", "quality", "--input", input, "--out", outDir, "--preset-set", "eval_samples=-4"));
            Assert.Equal(1, Sdtt("pipeline", "--preset", "quality", "--input", input, "--out", outDir, "--preset-set", "config=huge"));
            Assert.False(Directory.Exists(outDir));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void ResultsPageOfARunWithoutReportsSaysSo()
    {
        var dir = EvalRunnerTests.TempDir();
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "run"));
            var page = Path.Combine(dir, "docs", "results.md");
            Assert.Equal(0, Sdtt("eval", "results", "--run", Path.Combine(dir, "run"), "--out", page));
            Assert.Contains("has not been run yet", File.ReadAllText(page));
            Assert.Equal(1, Sdtt("eval", "results", "--run", Path.Combine(dir, "missing"), "--out", page));
        }
        finally { Directory.Delete(dir, true); }
    }
}
