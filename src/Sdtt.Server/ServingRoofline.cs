using System.Diagnostics;
using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Server;

/// <summary>The machine's two ceilings, measured: float32 matmul FLOP/s and memory bandwidth (a large copy).</summary>
/// <param name="FlopsPerSecond">Best of a few 1024³ matmuls.</param>
/// <param name="BytesPerSecond">Best of a few 128 MB copies (bytes read + written per second).</param>
public sealed record MachineCeilings(double FlopsPerSecond, double BytesPerSecond)
{
    /// <summary>Measures both (about a second).</summary>
    public static MachineCeilings Measure()
    {
        using var scope = NewDisposeScope();
        var a = randn(1024, 1024);
        var b = randn(1024, 1024);
        double best = double.MaxValue;
        for (int i = 0; i < 6; i++)
        {
            var w = Stopwatch.StartNew();
            using var c = a.matmul(b);
            best = Math.Min(best, w.Elapsed.TotalSeconds);
        }
        double flops = 2.0 * 1024 * 1024 * 1024 / best;
        var src = randn(32L << 20);   // 128 MB
        var dst = empty_like(src);
        best = double.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            var w = Stopwatch.StartNew();
            dst.copy_(src);
            best = Math.Min(best, w.Elapsed.TotalSeconds);
        }
        return new MachineCeilings(flops, 2.0 * 4 * src.numel() / best);
    }
}

/// <summary>Roofline predictions for one request of the benchmark workload (prompt P tokens with BOS, N new tokens) when
/// B requests are batched: every network call costs max(FLOPs / peak, bytes / bandwidth), where the bytes are the
/// float32 weights read once per call (plus the KV cache for GPT) and the FLOPs are 2 per weight per token row, plus
/// attention, plus the output layer on the rows that need it (diffusion: the positions revealed; GPT: one per row).
/// Activations are ignored (small at these sizes).</summary>
public static class ServingRoofline
{
    /// <summary>Seconds for a batch of <paramref name="batch"/> diffusion requests: <paramref name="calls"/> calls over
    /// L-token sequences; the output layer runs once per generated position in all.</summary>
    public static double Diffusion(DitConfig c, int batch, int seqLen, int newTokens, int calls, MachineCeilings m)
    {
        double d = c.HiddenSize, layers = c.NBlocks, v = c.VocabSize;
        double trunkWeights = 12 * d * d * layers + layers * c.CondDim * 6 * d;
        double weightBytes = 4 * (trunkWeights + d * v);
        double perCallFlops = batch * seqLen * (2 * 12 * d * d * layers + 4 * seqLen * d * layers);
        double outputFlops = 2 * d * v * batch * newTokens;   // over the whole run
        double total = 0;
        for (int i = 0; i < calls; i++) total += Math.Max((perCallFlops + outputFlops / calls) / m.FlopsPerSecond, weightBytes / m.BytesPerSecond);
        return total;
    }

    /// <summary>Seconds for a batch of <paramref name="batch"/> GPT requests: a prefill of P tokens, then N − 1
    /// single-token steps, each reading every weight and the KV cache so far.</summary>
    public static double Autoregressive(GptConfig c, int batch, int promptTokens, int newTokens, MachineCeilings m)
    {
        double d = c.HiddenSize, layers = c.NLayers, v = c.VocabSize;
        double trunkWeights = 12 * d * d * layers;
        double weightBytes = 4 * (trunkWeights + d * v);
        double prefillFlops = batch * promptTokens * (2 * 12 * d * d * layers + 2 * promptTokens * d * layers) + batch * 2 * d * v;
        double total = Math.Max(prefillFlops / m.FlopsPerSecond, weightBytes / m.BytesPerSecond);
        for (int s = 1; s < newTokens; s++)
        {
            double pos = promptTokens + s;
            double flops = batch * (2 * 12 * d * d * layers + 4 * pos * d * layers + 2 * d * v);
            double bytes = weightBytes + batch * layers * 2 * pos * d * 4;
            total += Math.Max(flops / m.FlopsPerSecond, bytes / m.BytesPerSecond);
        }
        return total;
    }
}
