using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>What the per-step callback sees.</summary>
/// <param name="Step">−1 for the prior, 0..N−1 for the ancestral steps, N for the greedy fill.</param>
/// <param name="Steps">N.</param>
/// <param name="T">Time of the step (1 for the prior, ε for the fill).</param>
/// <param name="Tokens">Current tokens [B, L] (int64, on the model's device); valid only during the callback. Tensors made
/// inside the callback belong to the sampler's dispose scope: use <see cref="ToArray"/> or <c>clone().DetachFromDisposeScope()</c> to keep them.</param>
/// <param name="MasksLeft">Masked positions left in the batch after this step.</param>
/// <param name="NetworkCalled">Whether this step ran the network (false for cached steps, the prior, and steps with nothing masked).</param>
/// <param name="IsFill">Whether this is the final greedy fill.</param>
/// <param name="Elapsed">Time since sampling started.</param>
public sealed record SamplingStep(int Step, int Steps, double T, Tensor Tokens, long MasksLeft, bool NetworkCalled, bool IsFill, TimeSpan Elapsed)
{
    /// <summary>A managed copy of <see cref="Tokens"/> [B][L].</summary>
    public long[][] ToArray()
    {
        using var cpu = Tokens.cpu();
        var flat = cpu.data<long>().ToArray();
        long l = Tokens.shape[1];
        return Enumerable.Range(0, (int)Tokens.shape[0]).Select(b => flat.AsSpan((int)(b * l), (int)l).ToArray()).ToArray();
    }
}
