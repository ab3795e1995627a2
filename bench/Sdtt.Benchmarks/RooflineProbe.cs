using System.Diagnostics;
using Sdtt.Benchmarks;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Sampling.Autoregressive;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sdtt.Benchmarks;

/// <summary>Diagnostics: wall time of the pieces of one AR decode step and one DiT trunk call (demo size by default).</summary>
public static class RooflineProbe
{
    public static int Run(string[] args)
    {
        TorchRuntime.EnsureLoaded();
        string size = args.Length > 0 ? args[0] : "demo";
        int batch = args.Length > 1 ? int.Parse(args[1]) : 8;
        int l = args.Length > 2 ? int.Parse(args[2]) : 128;
        string prec = args.Length > 3 ? args[3] : "fp32";
        var mode = prec == "bf16" ? ModelPrecision.BFloat16 : ModelPrecision.Float32;
        if (args.Length > 4) set_num_threads(int.Parse(args[4]));
        Console.WriteLine($"threads {get_num_threads()}, {size} batch {batch} L {l} {prec}");
        var (ditCfg, gptCfg) = LatencyBenchmark.Shapes(size, l);
        using var _ = no_grad();
        double T(string name, Func<Tensor> f, int reps = 20)
        {
            // Every call in its own dispose scope: intermediates left to the finaliser would time the GC, not the op.
            void Once() { using var scope = NewDisposeScope(); f().Dispose(); }
            Once(); Once();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < reps; i++) Once();
            double ms = sw.Elapsed.TotalMilliseconds / reps;
            Console.WriteLine($"{name,-34} {ms,9:0.000} ms");
            return ms;
        }
        using (var gpt = LatencyBenchmark.UntrainedGpt(gptCfg, 1, CPU))
        {
            gpt.Precision = mode;
            if (args.Length > 5 && args[5] == "prepared") gpt.PrepareForDecoding();
            using var cache = KvCache.For(gpt, batch, l + 1);
            var tok = full(new long[] { batch, 1 }, 50256L);
            gpt.Forward(tok, cache).Dispose();
            for (int i = 0; i < l / 2; i++) gpt.Forward(tok, cache).Dispose();
            long len = cache.Length;
            T("gpt decode step (mid cache)", () => { cache.Reset(); cache.Advance(len); return gpt.Forward(tok, cache); }, 50);
            T("gpt hidden only", () => { cache.Reset(); cache.Advance(len); return gpt.Hidden(tok, cache); }, 50);
            var hid = randn(batch, 1, gptCfg.HiddenSize);
            T("gpt project", () => gpt.Project(hid), 50);
            var w = gpt.OutputWeight;
            T("linear [B,D]x[V,D]^T fp32", () => F.linear(hid, w), 50);
            var wt = w.t().contiguous();
            var h2 = hid.reshape(batch, -1);
            T("matmul [B,D]x[D,V] fp32", () => h2.matmul(wt), 50);
            var wb = w.to(ScalarType.BFloat16); var hb = hid.to(ScalarType.BFloat16);
            T("linear bf16 weights kept", () => F.linear(hb, wb), 50);
            T("W [V,D] x h^T [D,B] (weight on the left)", () => w.matmul(h2.t()), 50);
            T("W x h^T, then .t().contiguous()", () => w.matmul(h2.t()).t().contiguous(), 50);
            var h1 = h2.narrow(0, 0, 1).squeeze(0);
            T("mv W x h (batch 1)", () => w.mv(h1), 50);
            T("linear batch 1", () => F.linear(h2.narrow(0, 0, 1), w), 50);
            T("mv loop? addmm", () => addmm(zeros(batch, w.shape[0]), h2, w.t(), 1f, 1f), 50);
            var logits = randn(batch, gptCfg.VocabSize);
            var opts = new ArGenerationOptions { MaxNewTokens = l };
            T("choose", () => ArGenerator.Choose(logits, opts), 50);
            T("softmax", () => logits.softmax(-1), 50);
            T("cumsum f64", () => logits.to(ScalarType.Float64).cumsum(-1), 50);
            var big = randn(64L << 20 >> 2);
            var dst = empty_like(big);
            double ms = T("copy 64 MB", () => { dst.copy_(big); return empty(0); }, 20);
            Console.WriteLine($"copy bandwidth {64.0 / 1024 * 1000 / ms:0.0} GB/s; weight bytes {gptCfg.ParameterCount * 4 / 1e6:0.0} MB");
            var probs = logits.softmax(-1);
            var prompt = ArGenerator.BosPrompt(batch, CPU);
            var opt2 = new ArGenerationOptions { MaxNewTokens = l, Seed = 1 };
            T("full generate", () => ArGenerator.Generate(gpt, prompt, opt2), 3);
        }
        using (var dit = LatencyBenchmark.UntrainedDit(ditCfg, 1, CPU))
        {
            dit.Precision = mode;
            var x = randint(0, 50257, new long[] { batch, l });
            var sigma = full(batch, 0.5f);
            double trunk = T("dit hidden", () => dit.Hidden(x, sigma), 10);
            trunk = T("dit hidden again", () => dit.Hidden(x, sigma), 10);
            long rows = batch * l; long d = ditCfg.HiddenSize;
            var a = randn(rows, d); var w4 = randn(4 * d, d);
            double mm = T("linear [BL,D]x[4D,D]^T", () => F.linear(a, w4), 20);
            double gf = 2.0 * rows * d * 4 * d / mm / 1e6;
            double flops = rows * (24.0 * d * d * ditCfg.NBlocks) + batch * 4.0 * l * l * d * ditCfg.NBlocks;
            Console.WriteLine($"matmul {gf:0.0} GFLOP/s, trunk {flops / trunk / 1e6:0.0} GFLOP/s = {flops / trunk / 1e6 / gf:P0}");
            var u = randn(batch, l, d);
            var q = randn(batch, 4, l, d / 4);
            T("sdpa", () => F.scaled_dot_product_attention(q, q, q), 20);
            T("layer_norm", () => F.layer_norm(u, new[] { d }, null, null, 1e-5), 20);
            var sh = randn(batch, d);
            T("modulate", () => u * (sh.unsqueeze(1) + 1) + sh.unsqueeze(1), 20);
            T("u * u", () => u * u, 20);
            T("u + 1", () => u + 1, 20);
            T("u * bcast", () => u * sh.unsqueeze(1), 20);
            var shc = sh.unsqueeze(1).expand(batch, l, d).contiguous();
            T("u * full-shaped", () => u * shc, 20);
            T("addcmul modulate", () => sh.unsqueeze(1).addcmul(u, sh.unsqueeze(1) + 1, 1), 20);
            T("u.clone", () => u.clone(), 20);
            var big = randn(batch, l, 4 * d);
            T("gelu tanh [BL,4D]", () => F.gelu(big, TorchSharp.Modules.GELU.Approximate.tanh), 20);
            var w3 = randn(3 * d, d);
            T("linear qkv", () => F.linear(u, w3), 20);
            var (cosT, sinT) = (randn(l, d / 8), randn(l, d / 8));
            var qq = randn(batch, l, 4, d / 4);
            T("rotary", () => RotaryEmbedding.Apply(qq, cosT, sinT), 20);
            var qkv = randn(batch, l, 3 * d).view(batch, l, 3, 4, d / 4);
            var (c2, s2) = (randn(l, d / 8), randn(l, d / 8));
            T("rotary on strided view", () => RotaryEmbedding.Apply(qkv[.., .., 0], c2, s2), 20);
            var qv = qkv[.., .., 0].transpose(1, 2);
            T("sdpa strided", () => F.scaled_dot_product_attention(qv, qv, qv), 20);
            var cc = randn(batch, 64); var wa = randn(6 * d, 64); var ba = randn(6 * d);
            T("adaLN linear", () => F.linear(cc, wa, ba), 20);
            T("sigma embed+cond", () => dit.Conditioning(sigma)!, 20);
            var wm = randn(4 * d, d); var bm = randn(4 * d);
            T("linear mlp0 3d", () => F.linear(u, wm, bm), 20);
            var hbig = randn(batch, l, 4 * d); var wm2 = randn(d, 4 * d); var bm2 = randn(d);
            T("linear mlp2 3d", () => F.linear(hbig, wm2, bm2), 20);
            T("embed", () => randint(0, 50257, new long[] { batch, l }), 20);
        }
        return 0;
    }
}
