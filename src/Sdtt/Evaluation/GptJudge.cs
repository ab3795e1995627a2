using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary><see cref="IJudge"/> over a <see cref="GptModel"/> (our AR baseline or imported GPT-2 weights): teacher-forced
/// log-probs, greedy predictions and last-token features after <c>ln_f</c>, all without gradients.</summary>
public sealed class GptJudge : IJudge, IDisposable
{
    /// <summary>The wrapped model (put in eval mode by the constructor).</summary>
    public GptModel Model { get; }
    /// <summary>Rows of the vocabulary projection computed at a time.</summary>
    public int ChunkRows { get; init; } = 1024;

    /// <summary>Wraps <paramref name="model"/> and switches it to eval mode (no dropout).</summary>
    public GptJudge(GptModel model) { Model = model; model.eval(); }

    /// <inheritdoc/>
    public int VocabSize => Model.Config.VocabSize;
    /// <inheritdoc/>
    public int MaxLength => Model.Config.NPositions;
    /// <inheritdoc/>
    public Device Device => Model.Device;

    /// <inheritdoc/>
    public Tensor TokenLogProbs(Tensor tokens)
    {
        using var _ = no_grad();
        return Model.TokenLogProbs(tokens.to(Device), ChunkRows);
    }

    /// <inheritdoc/>
    public Tensor GreedyTokens(Tensor tokens)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        long b = tokens.shape[0], l = tokens.shape[1];
        var hid = Model.Hidden(tokens.to(Device))[.., ..^1].reshape(b * (l - 1), -1);
        var parts = new List<Tensor>();
        for (long s = 0; s < b * (l - 1); s += ChunkRows)
        {
            long n = Math.Min(ChunkRows, b * (l - 1) - s);
            parts.Add(Model.Project(hid.narrow(0, s, n)).argmax(-1));
        }
        return cat(parts, 0).reshape(b, l - 1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public Tensor Features(Tensor tokens)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return Model.Features(tokens.to(Device))[.., -1].contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Disposes the model.</summary>
    public void Dispose() => Model.Dispose();
}
