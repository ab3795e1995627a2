using Sdtt.Benchmarks;
using Sdtt.Models;
using Sdtt.Native;
using static TorchSharp.torch;

namespace Sdtt.Tests.Autoregressive;

/// <summary>The latency benchmark on a minute configuration: rows, speedups, CSV/PNG, budget skips, model shapes.</summary>
[Collection(global::Sdtt.Tests.Distillation.GlobalTorchRngCollection.Name)] // uses the global torch generator (model init, manual_seed): not in parallel with the trainer tests
public class LatencyBenchmarkTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sdtt-bench-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    [Fact]
    public void RunsEveryMethodAndWritesCsvAndPlot()
    {
        var o = new LatencyOptions
        {
            Sizes = new[] { "tiny" }, Batches = new[] { 2 }, SeqLen = 12, Steps = new[] { 4, 2 }, Warmup = 1, Repeats = 2, BudgetSeconds = 0,
            Methods = new[] { LatencyMethod.Diffusion, LatencyMethod.DiffusionCached, LatencyMethod.ArKv, LatencyMethod.ArNoCache },
            OutDir = _dir,
        };
        var report = LatencyBenchmark.Run(o);
        Assert.Equal(6, report.Rows.Count); // 2 × 2 diffusion + 2 AR
        var ar = report.Rows.Single(r => r.Method == LatencyMethod.ArKv);
        Assert.Equal(1.0, ar.SpeedupVsArKv!.Value, 9);
        Assert.Equal(12, ar.NetworkCalls); // prefill + 11 decode steps
        foreach (var r in report.Rows)
        {
            Assert.True(r.MinMs <= r.MedianMs && r.MedianMs <= r.MaxMs && r.MinMs > 0);
            Assert.Equal(ar.MedianMs / r.MedianMs, r.SpeedupVsArKv!.Value, 9);
            Assert.Equal(2 * 12 / (r.MedianMs / 1000), r.TokensPerSecond, 6);
        }
        var unc = report.Rows.Single(r => r.Method == LatencyMethod.Diffusion && r.Steps == 4);
        Assert.InRange(unc.NetworkCalls, 4, 5); // every step calls the network (+ the fill if masks remain)
        var csv = File.ReadAllLines(Path.Combine(_dir, "latency.csv"));
        Assert.Equal(7, csv.Length);
        Assert.StartsWith("size,precision,method,steps", csv[0]);
        Assert.Contains(csv, l => l.StartsWith("tiny,fp32,ar-kv,,"));
        Assert.True(new FileInfo(Path.Combine(_dir, "latency.png")).Length > 1000);
        Assert.Contains("| tiny |", LatencyTable.Markdown(report));

        // One roofline row per size × batch × precision, measured in this run, and a prediction beside each diffusion row.
        var roof = Assert.Single(report.Rooflines);
        Assert.True(roof.CopyGBps > 0 && roof.MatmulGflops > 0 && roof.TrunkMs > 0 && roof.TrunkGflops > 0);
        Assert.Equal(ar.MedianMs / 12, roof.ArMsPerStep!.Value, 9);
        Assert.All(report.Rows.Where(r => LatencyOptions.IsDiffusion(r.Method)), r => Assert.True(r.PredictedSpeedupVsArKv > 0));
        Assert.Contains("trunk GFLOP/s", LatencyTable.RooflineMarkdown(report));
        Assert.EndsWith("predicted_speedup_vs_ar_kv", csv[0]);
    }

    [Fact]
    public void ArWeightBytesCountEveryLinearAndTheHeadButNotTheEmbeddingTables()
    {
        var (_, gpt) = LatencyBenchmark.Shapes("demo", 128);
        long d = gpt.HiddenSize, v = gpt.VocabSize, p = gpt.NPositions;
        long fp32 = Roofline.ArWeightBytes(gpt, ModelPrecision.Float32);
        Assert.Equal((gpt.ParameterCount - v * d - p * d) * 4, fp32); // untied head: everything but wte and wpe
        long linears = gpt.NLayers * 12 * d * d + v * d;
        Assert.Equal(fp32 - linears * 2, Roofline.ArWeightBytes(gpt, ModelPrecision.BFloat16));
    }

    [Fact]
    public void SkipsWorkOverTheBudgetWithANote()
    {
        var o = new LatencyOptions { Sizes = new[] { "tiny" }, Batches = new[] { 1 }, SeqLen = 8, Steps = new[] { 1_000_000 }, Warmup = 0, Repeats = 1, BudgetSeconds = 60 }; // AR fits even on a loaded machine; 10^6 diffusion steps never do
        var report = LatencyBenchmark.Run(o);
        Assert.DoesNotContain(report.Rows, r => r.Steps == 1_000_000);
        Assert.Contains(report.Notes, n => n.Contains("skipped ancestral @ 1000000 steps"));
        Assert.Contains(report.Rows, r => r.Method == LatencyMethod.ArKv);
    }

    [Fact]
    public void ShapesAreEqualAndTheDiffusionOutputIsNotUniform()
    {
        TorchRuntime.EnsureLoaded();
        var (dit, gpt) = LatencyBenchmark.Shapes("1.3b", 1024);
        Assert.Equal(1_297_040_722L, dit.ParameterCount);
        Assert.Equal(24, LatencyBenchmark.Shapes("xl", 1024).Dit.NBlocks); // one table: DitConfig.FromName
        Assert.Equal((2048, 16, 21), (gpt.HiddenSize, gpt.NHeads, gpt.NLayers));
        Assert.Equal(1025, gpt.NPositions);
        var (tinyDit, tinyGpt) = LatencyBenchmark.Shapes("tiny", 16);
        Assert.Equal((tinyDit.HiddenSize, tinyDit.NHeads, tinyDit.NBlocks), (tinyGpt.HiddenSize, tinyGpt.NHeads, tinyGpt.NLayers));
        using var model = LatencyBenchmark.UntrainedDit(tinyDit with { VocabSize = 300 }, 1, CPU);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = full(new long[] { 1, 16 }, 299L);
        var logp = model.LogProbs(x)[0, 0, ..299];
        Assert.True(logp.std().item<float>() > 1e-3, "the re-initialised output layer must give a non-uniform distribution");
        Assert.Throws<SdttException>(() => LatencyBenchmark.Shapes("huge", 16));
    }
}
