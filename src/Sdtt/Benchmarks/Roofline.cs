using System.Diagnostics;
using Sdtt.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Benchmarks;

/// <summary>The two hardware limits of a configuration and how close each side of the latency benchmark came to its own,
/// all measured in the same run: AR decoding with a KV cache is bound by reading the weights once per step (memory
/// bandwidth, measured as a large tensor copy), the diffusion trunk by matrix products (measured as the trunk's largest
/// linear layer, [B·L, D] × [D, 4D], at the run's thread count and precision).</summary>
/// <param name="Size">Size name.</param>
/// <param name="Batch">Sequences at once.</param>
/// <param name="Precision">fp32 or bf16.</param>
/// <param name="CopyGBps">Copy bandwidth: bytes read + bytes written per second by a 256 MB tensor copy (GB/s).</param>
/// <param name="MatmulGflops">Rate of [B·L, D] × [D, 4D] in this precision (GFLOP/s).</param>
/// <param name="TrunkMs">Median time of one DiT trunk call (embedding → final hidden state) on [B, L] (ms).</param>
/// <param name="TrunkGflops">The trunk's matmul FLOPs (24·D²·blocks per token plus attention) / <see cref="TrunkMs"/>.</param>
/// <param name="ArWeightBytes">Bytes of weights an AR decode step reads (every linear layer and the head; not the
/// embedding tables, which are gathered one row per token).</param>
/// <param name="ArMsPerStep">AR-KV median time / L: one decode step for the whole batch (ms; null without an AR-KV row).</param>
public sealed record RooflineRow(string Size, int Batch, string Precision, double CopyGBps, double MatmulGflops,
    double TrunkMs, double TrunkGflops, long ArWeightBytes, double? ArMsPerStep)
{
    /// <summary>Trunk GFLOP/s as a fraction of the matmul rate (target ≥ 0.6).</summary>
    public double TrunkFraction => TrunkGflops / MatmulGflops;

    /// <summary>Weight bytes read per second by the AR decode (GB/s).</summary>
    public double? ArAchievedGBps => ArMsPerStep is { } ms ? ArWeightBytes / (ms / 1000.0) / 1e9 : null;

    /// <summary>AR achieved bandwidth as a fraction of the copy bandwidth (target ≥ 0.5).</summary>
    public double? ArBandwidthFraction => ArAchievedGBps / CopyGBps;
}

/// <summary>Measures the two rooflines and predicts each latency from them.</summary>
public static class Roofline
{
    /// <summary>Vocabulary-wide passes over a [rows, V] float32 block per sampled row: reveal-first writes the logits, SUBS/
    /// log-softmax, exp, the float64 cumsum and its search (about 8 passes); the reference's exponential race adds the
    /// float64 uniforms, their log and the division (about 16).</summary>
    public const double RevealFirstVocabPasses = 8, AncestralVocabPasses = 16;

    /// <summary>Bytes per second of a copy of a 256 MB float32 tensor (read + write; far beyond any cache), median of 5.</summary>
    public static double CopyGBps(Device device)
    {
        using var scope = NewDisposeScope();
        var src = randn(64L << 20, device: device);
        var dst = empty_like(src);
        dst.copy_(src);
        var ms = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            var sw = Stopwatch.StartNew();
            dst.copy_(src);
            if (device.type != DeviceType.CPU) _ = dst[0].item<float>();
            ms.Add(sw.Elapsed.TotalMilliseconds);
        }
        ms.Sort();
        return 2.0 * src.NumberOfElements * 4 / (ms[ms.Count / 2] / 1000.0) / 1e9;
    }

    /// <summary>Rate of [rows, d] × [d, 4d] (GFLOP/s) in the given precision, best of several 0.3 s windows' means.</summary>
    public static double MatmulGflops(int d, int rows, ModelPrecision mode, Device device)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var dtype = mode == ModelPrecision.BFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
        var x = randn(new long[] { rows, d }, dtype: dtype, device: device);
        var w = randn(new long[] { 4L * d, d }, dtype: dtype, device: device);
        double Once()
        {
            using var s = NewDisposeScope();
            var sw = Stopwatch.StartNew();
            _ = nn.functional.linear(x, w).sum().to(ScalarType.Float32).item<float>();
            return sw.Elapsed.TotalSeconds;
        }
        Once();
        double best = double.PositiveInfinity;
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < 0.3) best = Math.Min(best, Once());
        return 2.0 * rows * d * 4.0 * d / best / 1e9;
    }

    /// <summary>Median time (ms) of one trunk call on random tokens [b, l] at σ = 1, each call in its own dispose scope.</summary>
    public static double TrunkMs(Dit dit, int b, int l, int repeats = 5)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var tokens = randint(0, dit.MaskIndex, new long[] { b, l }, device: dit.Device);
        var sigma = ones(b, device: dit.Device);
        double Once()
        {
            using var s = NewDisposeScope();
            var sw = Stopwatch.StartNew();
            _ = dit.Hidden(tokens, sigma).sum().item<float>();
            return sw.Elapsed.TotalMilliseconds;
        }
        Once();
        var ms = Enumerable.Range(0, repeats).Select(_ => Once()).OrderBy(x => x).ToList();
        return ms[ms.Count / 2];
    }

    /// <summary>Matmul FLOPs of one trunk call: 24·D² per token and block (qkv, out, MLP 4D) plus 4·L·D per token and block
    /// (scores and weighted sum).</summary>
    public static double TrunkFlops(DitConfig cfg, int b, int l) =>
        (double)b * l * (24.0 * cfg.HiddenSize * cfg.HiddenSize * cfg.NBlocks + 4.0 * l * cfg.HiddenSize * cfg.NBlocks);

    /// <summary>Weight bytes of an AR decode step: the linear layers and the head (2 bytes each when bf16 weights are
    /// kept), LayerNorms and biases in float32.</summary>
    public static long ArWeightBytes(GptConfig g, ModelPrecision mode)
    {
        long d = g.HiddenSize, h = g.MlpHidden, v = g.VocabSize;
        long blockLinears = g.NLayers * (d * 3 * d + d * d + d * h + h * d);
        long linears = blockLinears + v * d; // the head reads V·D, tied or not
        long rest = g.ParameterCount - v * d - g.NPositions * d - (g.TieWordEmbeddings ? 0 : v * d) - blockLinears;
        return linears * (mode == ModelPrecision.BFloat16 ? 2 : 4) + rest * 4;
    }

    /// <summary>Predicted AR-KV time (ms) for L tokens at batch b: per step the larger of reading the weights at the copy
    /// bandwidth and the step's matmul FLOPs at the matmul rate.</summary>
    public static double PredictArMs(RooflineRow r, GptConfig g, int l)
    {
        double weightsS = r.ArWeightBytes / (r.CopyGBps * 1e9);
        double flops = 2.0 * r.Batch * (g.NLayers * 12.0 * g.HiddenSize * g.HiddenSize + (double)g.HiddenSize * g.VocabSize);
        return l * Math.Max(weightsS, flops / (r.MatmulGflops * 1e9)) * 1000;
    }

    /// <summary>Predicted diffusion time (ms): the measured number of trunk calls at the matmul rate, the output layer
    /// at the matmul rate for every sampled row, and the vocabulary passes at the copy bandwidth. Reveal-first samples
    /// each position once (B·L rows); the reference samplers sample every masked row at every step (about B·L·(N+1)/2).</summary>
    public static double PredictDiffusionMs(RooflineRow r, DitConfig cfg, LatencyMethod method, int steps, int calls, int l)
    {
        double rows = method == LatencyMethod.DiffusionRevealFirst ? (double)r.Batch * l : r.Batch * l * (steps + 1) / 2.0;
        double passes = method == LatencyMethod.DiffusionRevealFirst ? RevealFirstVocabPasses : AncestralVocabPasses;
        double mm = calls * TrunkFlops(cfg, r.Batch, l) + rows * 2.0 * cfg.HiddenSize * cfg.VocabSize;
        double bytes = rows * cfg.VocabSize * 4.0 * passes;
        return (mm / (r.MatmulGflops * 1e9) + bytes / (r.CopyGBps * 1e9)) * 1000;
    }
}
