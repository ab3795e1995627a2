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
                foreach (var prec in new[] { DitPrecision.Float32, DitPrecision.BFloat16 })
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
                        Console.WriteLine($"| {name} | {batch}×{cfg.ModelLength} | {steps} | {(prec == DitPrecision.Float32 ? "fp32" : "bf16")} | {(cached ? "cached" : "uncached")} | {r.NetworkCalls} | {r.Elapsed.TotalSeconds:0.00} | {r.TokensPerSecond:0.0} | {cpu:0.00} | {batch * cfg.ModelLength / cpu:0.0} |{(same ? "" : " TOKENS DIFFER")}");
                    }
                }
        }
        return 0;
    }

    private static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
