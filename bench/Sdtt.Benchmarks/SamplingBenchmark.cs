using System.Diagnostics;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Benchmarks;

/// <summary>Tokens/s of the ancestral sampler (uncached vs cached, fp32 vs bf16 network) for random-weight DiTs with the
/// GPT-2 vocabulary. Usage: <c>sampling [--configs tiny,demo] [--steps 16,64] [--batch B] [--threads T]</c>, or
/// <c>make-model DIR [--config tiny]</c> to write a random model folder for trying <c>sdtt sample</c>.</summary>
public static class SamplingBenchmark
{
    public static Dit RandomModel(DitConfig cfg, long seed = 1)
    {
        var model = new Dit(cfg with { Dropout = 0 });
        using var g = new Generator((ulong)seed);
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
            {
                using var r = randn(p.shape, generator: g);
                double scale = name.Contains("output_layer.linear") ? 2.0 / Math.Sqrt(cfg.HiddenSize) : p.dim() > 1 ? 1.0 / Math.Sqrt(p.shape[^1]) : 0.1;
                p.copy_(r * scale + (name.Contains("norm") ? 1.0 : 0.0));
            }
        model.eval();
        return model;
    }

    public static int MakeModel(string[] args)
    {
        TorchRuntime.EnsureLoaded();
        string dir = args[0];
        var cfg = DitConfig.FromName(Arg(args, "--config") ?? "tiny");
        using var model = RandomModel(cfg);
        ModelFolder.SaveDit(dir, model);
        Console.WriteLine($"wrote a random {cfg.HiddenSize}-d {cfg.NBlocks}-block model to {dir}");
        return 0;
    }

    public static int Run(string[] args)
    {
        TorchRuntime.EnsureLoaded();
        if (Arg(args, "--threads") is { } th) set_num_threads(int.Parse(th));
        var configs = (Arg(args, "--configs") ?? "tiny,demo").Split(',');
        var stepsList = (Arg(args, "--steps") ?? "16,64").Split(',').Select(int.Parse).ToArray();
        int batch = int.Parse(Arg(args, "--batch") ?? "2");
        Console.WriteLine($"threads {get_num_threads()}, batch {batch}");
        Console.WriteLine("| config | B×L | steps | network | sampler | calls | wall s | tokens/s (wall) | CPU s | tokens/CPU-s |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var name in configs)
        {
            var cfg = DitConfig.FromName(name);
            using var model = RandomModel(cfg);
            foreach (int steps in stepsList)
                foreach (var prec in new[] { ModelPrecision.Float32, ModelPrecision.BFloat16 })
                {
                    model.Precision = prec;
                    long[][]? reference = null;
                    foreach (bool cached in new[] { false, true })
                    {
                        var o = new SamplingOptions { Steps = steps, NumSamples = batch, SeqLen = cfg.ModelLength, Seed = 1, Cached = cached };
                        var proc = Process.GetCurrentProcess();
                        var cpu0 = proc.TotalProcessorTime;
                        var r = new AncestralSampler().Sample(model, o);
                        proc.Refresh();
                        double cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds;
                        bool same = reference is null || reference.Zip(r.Tokens).All(p => p.First.SequenceEqual(p.Second));
                        reference ??= r.Tokens;
                        Console.WriteLine($"| {name} | {batch}×{cfg.ModelLength} | {steps} | {(prec == ModelPrecision.Float32 ? "fp32" : "bf16")} | {(cached ? "cached" : "uncached")} | {r.NetworkCalls} | {r.Elapsed.TotalSeconds:0.00} | {r.TokensPerSecond:0.0} | {cpu:0.00} | {batch * cfg.ModelLength / cpu:0.0} |{(same ? "" : " TOKENS DIFFER")}");
                    }
                }
        }
        return 0;
    }

    /// <summary>CPU seconds of the straightforward sampler (full LogProbs [B, L, V] every step) vs the masked-rows
    /// sampler on the same uniforms; both must give the same tokens. Usage: <c>naive [--config tiny] [--steps 16] [--batch 2]</c>.</summary>
    public static int Naive(string[] args)
    {
        TorchRuntime.EnsureLoaded();
        set_num_threads(1);
        var cfg = DitConfig.FromName(Arg(args, "--config") ?? "tiny");
        int steps = int.Parse(Arg(args, "--steps") ?? "16"), b = int.Parse(Arg(args, "--batch") ?? "2"), l = cfg.ModelLength, v = cfg.VocabSize;
        using var model = RandomModel(cfg);
        var proc = Process.GetCurrentProcess();
        double Cpu() { proc.Refresh(); return proc.TotalProcessorTime.TotalSeconds; }
        double c0 = Cpu();
        long[] naive;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var src = new XoshiroUniformSource(3);
            var schedule = new Sdtt.Diffusion.LogLinearSchedule();
            var ts = AncestralSampler.TimeGrid(steps);
            var x = full(b, l, (long)cfg.MaskIndex);
            for (int i = 0; i < steps; i++)
            {
                using var s = NewDisposeScope();
                var logp = model.LogProbs(x);
                x = AncestralStep.Update(x, logp, ts[i].expand(b), AncestralSampler.StepSize(steps), src, schedule, cfg.MaskIndex, CategoricalPrecision.Float64).MoveToOuterDisposeScope();
            }
            naive = x.data<long>().ToArray();
        }
        double naiveCpu = Cpu() - c0;
        c0 = Cpu();
        var r = new AncestralSampler().Sample(model, new SamplingOptions { Steps = steps, NumSamples = b, SeqLen = l, Uniforms = new XoshiroUniformSource(3) });
        double oursCpu = Cpu() - c0;
        bool same = naive.SequenceEqual(r.Tokens.SelectMany(t => t)) && !naive.Contains(cfg.MaskIndex);
        Console.WriteLine($"{cfg.HiddenSize}-d, {b}×{l}, {steps} steps: full LogProbs {naiveCpu:0.00} CPU s, masked rows {oursCpu:0.00} CPU s ({naiveCpu / oursCpu:0.00}×), same tokens: {same}");
        return same ? 0 : 1;
    }

    private static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
