using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>The outcome of a sampler run.</summary>
/// <param name="Tokens">Samples [B][L] (no mask id left).</param>
/// <param name="NetworkCalls">Forward passes of the network (trunk) made, the fill included.</param>
/// <param name="Steps">Ancestral steps run (N).</param>
/// <param name="FillApplied">Whether masks were left after step N and the greedy fill ran.</param>
/// <param name="Elapsed">Wall-clock time of the run.</param>
public sealed record SamplingResult(long[][] Tokens, int NetworkCalls, int Steps, bool FillApplied, TimeSpan Elapsed)
{
    /// <summary>Per sample: whether its <see cref="SampleSettings.Cancellation"/> stopped it (its tokens are then partial
    /// and may hold MASK). Empty when no per-sample settings were given.</summary>
    public IReadOnlyList<bool> Cancelled { get; init; } = Array.Empty<bool>();
    /// <summary>Positions revealed by the network, summed over steps (the rows whose output layer was computed), the
    /// fill included. For the reference samplers: every masked row of every step with a network call.</summary>
    public long RowsProjected { get; init; }
    /// <summary>Number of samples B.</summary>
    public int NumSamples => Tokens.Length;
    /// <summary>Sequence length L.</summary>
    public int SeqLen => Tokens.Length == 0 ? 0 : Tokens[0].Length;
    /// <summary>Tokens produced per second (B·L / elapsed).</summary>
    public double TokensPerSecond => Elapsed.TotalSeconds > 0 ? NumSamples * (double)SeqLen / Elapsed.TotalSeconds : double.PositiveInfinity;

    /// <summary>The samples as an int64 tensor [B, L] on the CPU (caller disposes).</summary>
    public Tensor ToTensor() => tensor(Tokens.SelectMany(r => r).ToArray(), new long[] { NumSamples, SeqLen });
}
