using static TorchSharp.torch;

namespace Sdtt.Models;

/// <summary>What samplers, losses and SDTT targets need from a diffusion network: SUBS log-probabilities.
/// Any backbone (trained here, or a released checkpoint) serves every sampler through this interface.</summary>
public interface IDenoiser
{
    /// <summary>Id of the absorbing MASK token.</summary>
    int MaskIndex { get; }
    /// <summary>Vocabulary size including MASK.</summary>
    int VocabSize { get; }
    /// <summary>Whether the network reads sigma (if false, its output does not depend on time).</summary>
    bool TimeConditioned { get; }
    /// <summary>Device of the parameters.</summary>
    Device Device { get; }

    /// <summary>SUBS log-probabilities [B, L, V] for tokens [B, L] (float32).</summary>
    Tensor LogProbs(Tensor tokens, Tensor? sigma = null);

    /// <summary>SUBS log-probabilities [N, V] for the flattened positions <paramref name="rowIndex"/> (indices into B·L),
    /// all of which must hold MASK. Computes the output layer only there.</summary>
    Tensor LogProbsAt(Tensor tokens, Tensor rowIndex, Tensor? sigma = null);
}
