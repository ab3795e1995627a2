using System.Diagnostics;
using Sdtt.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Training;

/// <summary>A quick estimate of the time per optimizer step, shown before the first step so a run that would take days
/// says so at once. Cost model: 2 FLOPs per weight per token for each forward-equivalent pass (a backward counts two),
/// over the weights used as matrices (the input embedding is a lookup and is left out), divided by this device's measured
/// throughput on a matmul of the model's width ([8192 × D] · [D × 4D], ~0.1 s of probing). Expect it within ~2× of the
/// real figure (attention and the sampling steps are not counted).</summary>
public static class TrainingCost
{
    private static readonly Dictionary<(int, bool, string), double> Cache = new();

    /// <summary>Vocabulary-wide element passes per token and forward-equivalent pass (log-softmax, exponentials, sampling
    /// and their gradients at masked rows, with their allocations), calibrated on measured steps of the tiny config on a 2-core EPYC (MDLM batch 8: 1.4 s measured; SDTT batch 16: 8–11 s measured; both within 2× of the estimate).</summary>
    public const double VocabPassesPerToken = 12;

    /// <summary>Measured matmul throughput (FLOP/s) at width <paramref name="hidden"/> in fp32 or bf16 on
    /// <paramref name="device"/> (bf16 without native support is emulated and shows it here).</summary>
    public static double MatmulFlops(int hidden, bool bf16, Device device)
    {
        var key = (hidden, bf16, device.ToString());
        lock (Cache) if (Cache.TryGetValue(key, out var hit)) return hit;
        Native.TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var type = bf16 ? ScalarType.BFloat16 : ScalarType.Float32;
        const int m = 8192;
        int d = Math.Max(16, hidden);
        var g = new Generator(1, device);
        var a = rand(new long[] { m, d }, generator: g, device: device).to(type);
        var b = rand(new long[] { d, 4L * d }, generator: g, device: device).to(type);
        matmul(a, b).Dispose(); // warm-up
        double flops = 2.0 * m * d * 4.0 * d * BestRate(() => matmul(a, b).Dispose(), device);
        lock (Cache) Cache[key] = flops;
        return flops;
    }

    /// <summary>Measured throughput (elements/s) of a log-softmax over <paramref name="vocab"/>-wide rows on
    /// <paramref name="device"/>: the memory-bound work on full distributions (SUBS, teacher sampling, the loss).</summary>
    public static double VocabElementsPerSecond(int vocab, Device device)
    {
        var key = (-vocab, false, device.ToString());
        lock (Cache) if (Cache.TryGetValue(key, out var hit)) return hit;
        Native.TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        const int rows = 128;
        var x = rand(new long[] { rows, Math.Max(2, vocab) }, generator: new Generator(2, device), device: device);
        x.log_softmax(-1).Dispose();
        double eps = (double)rows * vocab * BestRate(() => x.log_softmax(-1).Dispose(), device);
        lock (Cache) Cache[key] = eps;
        return eps;
    }

    /// <summary>Operations per second of <paramref name="op"/>: the best of several ~25 ms windows, so a probe on a
    /// shared machine measures the device rather than the moments another process held it.</summary>
    private static double BestRate(Action op, Device device)
    {
        double best = 0;
        var total = Stopwatch.StartNew();
        for (int w = 0; w < 8 && (w < 3 || total.Elapsed.TotalSeconds < 0.2); w++)
        {
            var sw = Stopwatch.StartNew();
            int reps = 0;
            do
            {
                op();
                reps++;
            } while (sw.Elapsed.TotalSeconds < 0.025 && reps < 1000);
            if (device.type == DeviceType.CUDA) cuda.synchronize();
            best = Math.Max(best, reps / Math.Max(1e-9, sw.Elapsed.TotalSeconds));
        }
        return best;
    }

    /// <summary>Estimated seconds per optimizer step of a DiT of shape <paramref name="model"/> over
    /// <paramref name="tokensPerStep"/> tokens, with <paramref name="passes"/> forward-equivalent passes per token
    /// (MDLM training 3: forward + backward; SDTT 3 + k teacher forwards).</summary>
    public static double StepSeconds(DitConfig model, long tokensPerStep, double passes, bool bf16, Device device)
    {
        double matrixWeights = Math.Max(1, model.ParameterCount - (double)model.VocabSize * model.HiddenSize);
        double matmul = 2.0 * matrixWeights * tokensPerStep * passes / MatmulFlops(model.HiddenSize, bf16, device);
        double vocab = VocabPassesPerToken * passes * tokensPerStep * model.VocabSize / VocabElementsPerSecond(model.VocabSize, device);
        if (Environment.GetEnvironmentVariable("SDTT_DEBUG_COST") == "1")
            Console.Error.WriteLine($"cost: matmul {matmul:F2} s + vocabulary {vocab:F2} s");
        return matmul + vocab;
    }
}
