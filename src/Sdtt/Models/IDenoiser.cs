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

    /// <summary>The sequence length the network was trained on, a sampler's default length (null: none, the caller must
    /// give one).</summary>
    int? ModelLength => null;

    /// <summary>Runs the network once on <paramref name="tokens"/> [B, L] and returns a scorer of the masked flattened
    /// positions <paramref name="maskedRows"/>, which samplers ask for in chunks. The default computes every row's
    /// log-probabilities at once (<see cref="LogProbsAt"/>); a network with a separate output layer keeps its hidden states
    /// and projects only the chunk asked for, so B×L×V is never materialised.</summary>
    IMaskedRowScores ScoreMaskedRows(Tensor tokens, Tensor maskedRows, Tensor? sigma = null) =>
        new MaterialisedRowScores(LogProbsAt(tokens, maskedRows, sigma));
}

/// <summary>SUBS log-probabilities of the masked rows of one network evaluation, served chunk by chunk.</summary>
public interface IMaskedRowScores : IDisposable
{
    /// <summary>Log-probs [count, V] (float32) of the masked rows <paramref name="rows"/> = maskedRows[start .. start+count).</summary>
    Tensor Score(Tensor rows, long start, long count);

    /// <summary>Whether each <see cref="Score"/> call recomputes its rows (an output layer per chunk) rather than slicing
    /// a materialised block: a sampler that reuses a step's output then does better to keep the chunks it got.</summary>
    bool RecomputesRows { get; }
}

/// <summary>Log-probabilities of every masked row computed at once; chunks are slices.</summary>
public sealed class MaterialisedRowScores(Tensor all) : IMaskedRowScores
{
    /// <inheritdoc />
    public Tensor Score(Tensor rows, long start, long count) => all.narrow(0, start, count).to(ScalarType.Float32);

    /// <inheritdoc />
    public bool RecomputesRows => false;

    /// <inheritdoc />
    public void Dispose() => all.Dispose();
}

/// <summary>A network whose linear layers can run in bfloat16 (DiT and GPT): what a trainer switches for mixed precision.</summary>
public interface IPrecisionSwitchable
{
    /// <summary>Numeric mode of the transformer body.</summary>
    ModelPrecision Precision { get; set; }
}
