using System.Diagnostics;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Sampling.Autoregressive;
using static TorchSharp.torch;

namespace Sdtt.Benchmarks;

/// <summary>Where one AR-KV decode step spends its time (diagnostics): the whole step, the trunk (<c>Hidden</c>), the head
/// product and the draw, at a batch size. <c>ar-decode B [THREADS] [SIZE]</c>.</summary>
public static class ArDecodeProbe
{
    public static int Run(string[] args)
    {
        TorchRuntime.EnsureLoaded();
        long b = args.Length > 0 ? long.Parse(args[0]) : 8;
        if (args.Length > 1 && int.Parse(args[1]) > 0) set_num_threads(int.Parse(args[1]));
        var cfg = GptConfig.FromName(args.Length > 2 ? args[2] : "demo");
        manual_seed(1);
        using var model = new GptModel(cfg);
        model.eval();
        model.PrepareForDecoding();
        using var _ = no_grad();
        const int steps = 64;
        using var tok = full(new[] { b, 1L }, 50256L, ScalarType.Int64);
        double Time(string name, Func<KvCache, Tensor> step)
        {
            double best = double.MaxValue;
            for (int rep = 0; rep < 3; rep++)
            {
                using var cache = KvCache.For(model, b, steps + 1);
                var w = Stopwatch.StartNew();
                for (int i = 0; i < steps; i++)
                {
                    using var scope = NewDisposeScope();
                    step(cache);
                }
                best = Math.Min(best, w.Elapsed.TotalMilliseconds / steps);
            }
            Console.WriteLine($"{name,-34} {best,8:F3} ms/step");
            return best;
        }
        using var hidden1 = randn(b, 1, cfg.HiddenSize);
        using var logits = randn(b, cfg.VocabSize);
        var opts = new ArGenerationOptions { MaxNewTokens = steps, Seed = 1 };
        using var gen = new Generator(1);
        Time("whole step (Forward + Choose)", c => ArGenerator.Choose(model.Forward(tok, c).select(1, 0), opts, gen));
        Time("Forward (trunk + head)", c => model.Forward(tok, c));
        Time("Hidden (trunk)", c => model.Hidden(tok, c));
        Time("Project (head)", _ => model.Project(hidden1));
        Time("Choose (softmax + f64 draw)", _ => ArGenerator.Choose(logits, opts, gen));
        Time("  softmax", _ => logits.softmax(-1));
        using var probs = logits.softmax(-1);
        Time("  SampleRows (f64 cdf)", _ => ArGenerator.SampleRows(probs, gen));
        Time("  to f64", _ => probs.to(ScalarType.Float64));
        using var p64 = probs.to(ScalarType.Float64);
        Time("  cumsum f64", _ => p64.cumsum(-1));
        using var wt = model.OutputWeight.detach().t().contiguous();
        using var h2 = randn(b, cfg.HiddenSize);
        Time("  head: columns h·Wt [D,V]", _ => h2.matmul(wt));
        Time("  head: weight left (W·hT)T", _ => model.OutputWeight.matmul(h2.t()).t());
        Time("  head: linear", _ => nn.functional.linear(h2, model.OutputWeight));
        foreach (var (o, i) in new[] { (3L * cfg.HiddenSize, (long)cfg.HiddenSize), (4L * cfg.HiddenSize, cfg.HiddenSize), (cfg.HiddenSize, 4L * cfg.HiddenSize) })
        {
            using var w = randn(o, i) * 0.02;
            using var bias = zeros(o);
            using var wT = w.t().contiguous();
            using var xin = randn(b, i);
            Time($"  block linear {o}x{i}: linear", _ => nn.functional.linear(xin, w, bias));
            Time($"  block linear {o}x{i}: addmm x·Wt", _ => addmm(bias, xin, wT, 1f, 1f));
            Time($"  block linear {o}x{i}: (W·xT)T", _ => w.matmul(xin.t()).t());
        }
        using var xs = randn(b, 1, cfg.HiddenSize);
        using var lnw = ones(cfg.HiddenSize);
        using var lnb = zeros(cfg.HiddenSize);
        Time("  layer_norm", _ => nn.functional.layer_norm(xs, new[] { (long)cfg.HiddenSize }, lnw, lnb, 1e-5));
        Time("  gelu", _ => nn.functional.gelu(xs));
        Time("  add", _ => xs + xs);
        using var qq = randn(b, cfg.NHeads, 1, cfg.HiddenSize / cfg.NHeads);
        using var kk = randn(b, cfg.NHeads, 64, cfg.HiddenSize / cfg.NHeads);
        Time("  sdpa 1 x 64 keys", _ => nn.functional.scaled_dot_product_attention(qq, kk, kk));
        using var lnMod = nn.LayerNorm(cfg.HiddenSize);
        Time("  LayerNorm module", _ => lnMod.forward(xs));
        using var kcache = zeros(b, cfg.NHeads, 128, cfg.HiddenSize / cfg.NHeads);
        using var knew = randn(b, cfg.NHeads, 1, cfg.HiddenSize / cfg.NHeads);
        Time("  cache narrow+copy_", _ => kcache.narrow(2, 5, 1).copy_(knew));
        Time("  narrow view", _ => kcache.narrow(2, 0, 6));
        Time("  empty scope op (view)", _ => xs.view(b, cfg.HiddenSize));
        using var blk = new GptBlock(cfg);
        blk.eval();
        Time("  one GptBlock, cache", c => blk.Forward(xs, c, 0, ModelPrecision.Float32));
        Time("  one GptBlock, cache + Advance", c => { var r = blk.Forward(xs, c, 0, ModelPrecision.Float32); c.Advance(1); return r; });
        using var emb = nn.Embedding(cfg.VocabSize, cfg.HiddenSize);
        Time("  embedding 50257 rows", _ => emb.forward(tok));
        Time("  4 blocks, cache + Advance", c => { var r = xs; for (int i = 0; i < 4; i++) r = blk.Forward(r, c, 0, ModelPrecision.Float32); c.Advance(1); return r; });
        long bytes = model.parameters().Sum(p => p.NumberOfElements * p.ElementSize) - cfg.NPositions * cfg.HiddenSize * 4 - cfg.VocabSize * cfg.HiddenSize * 4;
        Console.WriteLine($"weights read per step (linear + head, no embeddings): {bytes / 1e6:F1} MB");
        return 0;
    }
}
