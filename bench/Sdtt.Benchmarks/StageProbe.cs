using System.Diagnostics;
using Sdtt.Diffusion;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Benchmarks;

/// <summary>CPU time of each stage of one sampler chunk (diagnostics): output layer, SUBS, kernel, uniforms, race.</summary>
public static class StageProbe
{
    public static int Run(string[] args)
    {
        TorchRuntime.EnsureLoaded();
        set_num_threads(1);
        int rowsN = args.Length > 0 ? int.Parse(args[0]) : 20;
        var cfg = DitConfig.FromName(args.Length > 1 ? args[1] : "tiny");
        using var model = SamplingBenchmark.RandomModel(cfg);
        using var _ = no_grad();
        var x = full(1, cfg.ModelLength, (long)cfg.MaskIndex);
        var h = model.Hidden(x).reshape(-1, cfg.HiddenSize);
        var rows = arange((long)rowsN);
        var src = new XoshiroUniformSource(1);
        var mT = tensor(new[] { 0.5f }); var mS = tensor(new[] { 0.4f });
        var proc = Process.GetCurrentProcess();
        void T(string name, Func<Tensor> f, int reps = 30)
        {
            f().Dispose();
            proc.Refresh();
            var c0 = proc.TotalProcessorTime;
            for (int i = 0; i < reps; i++) f().Dispose();
            proc.Refresh();
            double ms = (proc.TotalProcessorTime - c0).TotalMilliseconds / reps;
            Console.WriteLine($"{name,-26} {ms:0.00} ms CPU  ({ms * 1e6 / rowsN / cfg.VocabSize:0.0} ns/elem)");
        }
        var logits = model.ProjectRows(h.index_select(0, rows));
        var logp = Subs.MaskedRows(logits, cfg.MaskIndex);
        var q = AncestralStep.Kernel(logp, mT, mS, cfg.MaskIndex);
        var u64 = src.Draw(rows, 1, rowsN, cfg.VocabSize, ScalarType.Float64, CPU);
        var u32 = src.Draw(rows, 1, rowsN, cfg.VocabSize, ScalarType.Float32, CPU);
        for (int k = 0; k < 3; k++)
        {
            T("race f64 manual", () => { using var sc = NewDisposeScope(); var g = u64.to(ScalarType.Float64, copy: true); g.add_(1e-10).log_().neg_().add_(1e-10); var r = q.to(ScalarType.Float64, copy: true); r.div_(g); return r.argmax(-1).MoveToOuterDisposeScope(); });
            T("race f64", () => AncestralStep.SampleCategorical(q, u64, CategoricalPrecision.Float64));
        }
        T("hidden (whole seq)", () => model.Hidden(x), 5);
        T("project rows", () => model.ProjectRows(h.index_select(0, rows)));
        T("subs masked rows", () => Subs.MaskedRows(logits, cfg.MaskIndex));
        T("kernel", () => AncestralStep.Kernel(logp, mT, mS, cfg.MaskIndex));
        T("draw f64", () => src.Draw(rows, 1, rowsN, cfg.VocabSize, ScalarType.Float64, CPU));
        T("draw f32", () => src.Draw(rows, 1, rowsN, cfg.VocabSize, ScalarType.Float32, CPU));
        T("race f64", () => AncestralStep.SampleCategorical(q, u64, CategoricalPrecision.Float64));
        T("race f32", () => AncestralStep.SampleCategorical(q, u32, CategoricalPrecision.Float32));
        T("log f64", () => u64.log());
        T("copy f64", () => u64.to(ScalarType.Float64, copy: true));
        T("add_ f64", () => { var g = u64.to(ScalarType.Float64, copy: true); g.add_(1e-10); return g; });
        T("add_ log_ f64", () => { var g = u64.to(ScalarType.Float64, copy: true); g.add_(1e-10).log_(); return g; });
        T("add_ log_ neg_ add_ f64", () => { var g = u64.to(ScalarType.Float64, copy: true); g.add_(1e-10).log_().neg_().add_(1e-10); return g; });
        var gg = u64.to(ScalarType.Float64, copy: true); gg.add_(1e-10).log_().neg_().add_(1e-10);
        T("q to f64", () => q.to(ScalarType.Float64, copy: true));
        T("q64 div_ g", () => { var r = q.to(ScalarType.Float64, copy: true); r.div_(gg); return r; });
        var rr = q.to(ScalarType.Float64, copy: true); rr.div_(gg);
        T("argmax f64", () => rr.argmax(-1));
        T("race f64 again", () => AncestralStep.SampleCategorical(q, u64, CategoricalPrecision.Float64));
        T("race f64 manual", () => { using var sc = NewDisposeScope(); var g = u64.to(ScalarType.Float64, copy: true); g.add_(1e-10).log_().neg_().add_(1e-10); var r = q.to(ScalarType.Float64, copy: true); r.div_(g); return r.argmax(-1).MoveToOuterDisposeScope(); });
        T("log f32", () => u32.log());
        return 0;
    }
}
