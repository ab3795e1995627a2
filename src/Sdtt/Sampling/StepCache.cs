using Sdtt.Diffusion;
using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>Log-probs kept from the previous network call (cached sampler): either every chunk (when they fit the
/// budget) or the scorer itself, which recomputes the output layer from kept hidden states.</summary>
internal sealed class StepCache : IDisposable
{
    private readonly List<Tensor> _chunks = new();
    private IMaskedRowScores? _scorer;
    private bool _keepChunks;

    public bool Valid { get; private set; }

    /// <summary>Starts caching a fresh network evaluation.</summary>
    public void Reset(IMaskedRowScores scorer, bool keepChunks)
    {
        Clear();
        _scorer = scorer;
        _keepChunks = keepChunks;
        Valid = true;
    }

    /// <summary>Adds chunk <paramref name="index"/> (computed by the scorer) if chunks are kept.</summary>
    public void Offer(int index, Tensor logp)
    {
        if (!_keepChunks || index != _chunks.Count) return;
        _chunks.Add(logp.clone().DetachFromDisposeScope());
    }

    /// <summary>Chunk <paramref name="index"/>: a kept copy or a recomputation from the kept hidden states.</summary>
    public Tensor Get(int index, Tensor rows, long start, long count) =>
        index < _chunks.Count ? _chunks[index].alias() : _scorer!.Score(rows, start, count);

    /// <summary>Drops everything (a token changed).</summary>
    public void Clear()
    {
        foreach (var c in _chunks) c.Dispose();
        _chunks.Clear();
        _scorer?.Dispose();
        _scorer = null;
        Valid = false;
    }

    public void Dispose() => Clear();
}
