using System.Globalization;
using Sdtt.Models;

namespace Sdtt.Sampling;

/// <summary>Bounds on a sampling request, checked before any work so that a typo cannot take the machine's memory:
/// the time grid holds N + 1 floats (2·10⁹ steps asked 8 GB), and one network call holds activations of every sample at
/// once.</summary>
public static class SamplingLimits
{
    /// <summary>Most sampling steps (the paper uses up to 1,024; beyond the sequence length extra steps rarely reveal anything).</summary>
    public const int MaxSteps = 100_000;
    /// <summary>Most samples per call.</summary>
    public const int MaxNumSamples = 100_000;
    /// <summary>Bytes of activations per token and model dimension held during one DiT forward (fp32, all blocks kept
    /// for the largest intermediate: ~24 floats per dimension).</summary>
    public const double ActivationBytesPerTokenDim = 24 * 4;

    /// <summary>Throws a one-line <see cref="SdttException"/> naming the option when a request is out of bounds for
    /// <paramref name="model"/>; <paramref name="availableBytes"/> defaults to this machine's available memory.</summary>
    public static void Check(int steps, int numSamples, int seqLen, DitConfig model, long? availableBytes = null)
    {
        if (steps < 1 || steps > MaxSteps) throw new SdttException($"--steps must be in 1..{MaxSteps:N0} (got {steps:N0})");
        if (numSamples < 1 || numSamples > MaxNumSamples) throw new SdttException($"--num-samples must be in 1..{MaxNumSamples:N0} (got {numSamples:N0})");
        if (seqLen < 1) throw new SdttException($"--seq-len must be ≥ 1 (got {seqLen})");
        if (seqLen > model.ModelLength)
            throw new SdttException($"--seq-len {seqLen} is above the model's length {model.ModelLength} (it was trained on {model.ModelLength}-token sequences); use at most {model.ModelLength}");
        double need = (double)numSamples * seqLen * model.HiddenSize * ActivationBytesPerTokenDim;
        long have = availableBytes ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (have > 0 && need > have)
            throw new SdttException($"--num-samples {numSamples:N0} × --seq-len {seqLen:N0} needs about {Gb(need)} for one network call, more than the {Gb(have)} " +
                                    $"this machine has; use at most {Math.Max(1, (long)(have / (seqLen * model.HiddenSize * ActivationBytesPerTokenDim))):N0} samples per call");
    }

    private static string Gb(double bytes) => (bytes / (1L << 30)).ToString("0.#", CultureInfo.InvariantCulture) + " GB";
}
