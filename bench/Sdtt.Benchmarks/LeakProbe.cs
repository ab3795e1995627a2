using System.Diagnostics;
using Sdtt.Diffusion;
using Sdtt.Native;
using Sdtt.Models;
using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Benchmarks;

/// <summary>Resident memory after repeating each chunk stage (diagnostics for leaks).</summary>
public static class LeakProbe
{
    public static int Run(string[] args)
    {
        TorchRuntime.EnsureLoaded();
        long Rss() { var p = Process.GetCurrentProcess(); p.Refresh(); return p.WorkingSet64 >> 20; }
        var cfg = DitConfig.Tiny;
        using var model = SamplingBenchmark.RandomModel(cfg);
        using var _ = no_grad();
        var rows = arange(20L);
        var src = new XoshiroUniformSource(1);
        var h = randn(20, cfg.HiddenSize);
        var mT = tensor(new[] { 0.5f }); var mS = tensor(new[] { 0.4f });
        void L(string name, Action a)
        {
            long r0 = Rss();
            for (int i = 0; i < 200; i++) { using var sc = NewDisposeScope(); a(); }
            GC.Collect(); GC.WaitForPendingFinalizers();
            Console.WriteLine($"{name,-20} RSS {r0} → {Rss()} MB");
        }
        L("draw f64", () => src.Draw(rows, 1, 20, cfg.VocabSize, ScalarType.Float64, CPU));
        L("project", () => model.ProjectRows(h));
        var logp = Subs.MaskedRows(model.ProjectRows(h), cfg.MaskIndex);
        L("subs", () => Subs.MaskedRows(model.ProjectRows(h), cfg.MaskIndex));
        var u = src.Draw(rows, 1, 20, cfg.VocabSize, ScalarType.Float64, CPU);
        L("sample rows", () => AncestralStep.SampleRows(logp, mT, mS, u, cfg.MaskIndex, CategoricalPrecision.Float64));
        L("kernel", () => AncestralStep.Kernel(logp, mT, mS, cfg.MaskIndex));
        var q = AncestralStep.Kernel(logp, mT, mS, cfg.MaskIndex);
        L("race", () => AncestralStep.SampleCategorical(q, u, CategoricalPrecision.Float64));
        L("old race", () => { var qq = q.to(ScalarType.Float64); var g = 1e-10 - (u.to(ScalarType.Float64) + 1e-10).log(); (qq / g).argmax(-1); });
        L("copy+inplace", () => { var g = u.to(ScalarType.Float64, copy: true); g.add_(1e-10).log_().neg_().add_(1e-10); });
        L("copy only", () => { u.to(ScalarType.Float64, copy: true); });
        L("shaping id", () => ProbabilityShaping.Apply(logp, 1, 1, cfg.MaskIndex));
        return 0;
    }
}
