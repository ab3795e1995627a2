using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>An autoregressive language model used as a judge (generative perplexity, MAUVE features) or as an AR
/// baseline (LAMBADA, multiple choice). Inputs are token ids [B, L] fed exactly as given (no BOS is added).</summary>
public interface IJudge
{
    /// <summary>Size of the judge's output vocabulary.</summary>
    int VocabSize { get; }
    /// <summary>Longest sequence the judge accepts (its context window).</summary>
    int MaxLength { get; }
    /// <summary>Device of the judge's parameters (inputs are moved there).</summary>
    Device Device { get; }

    /// <summary>Teacher-forced log-probabilities [B, L−1] (float32): entry l−1 is log p(x_l | x_&lt;l) for l = 1..L−1.</summary>
    Tensor TokenLogProbs(Tensor tokens);

    /// <summary>Greedy next-token predictions [B, L−1] (int64): entry l−1 is argmax_v p(v | x_&lt;l).</summary>
    Tensor GreedyTokens(Tensor tokens);

    /// <summary>Last-layer hidden state (after the final layer norm) at the last position of each row, [B, D] float32.</summary>
    Tensor Features(Tensor tokens);
}
