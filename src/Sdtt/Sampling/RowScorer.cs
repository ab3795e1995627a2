using Sdtt.Diffusion;
using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>One network evaluation of a sampler step, served as SUBS log-probs for chunks of masked rows.
/// For a <see cref="Dit"/> only the final hidden states [B·L, D] are kept and the 50k-way output layer is computed per
/// chunk (never B×L×V); any other <see cref="IDenoiser"/> is evaluated once with <see cref="IDenoiser.LogProbsAt"/>.</summary>
internal abstract class RowScorer : IDisposable
{
    /// <summary>Log-probs [count, V] (float32) of the masked rows <paramref name="rows"/> = allRows[start .. start+count).</summary>
    public abstract Tensor Score(Tensor rows, long start, long count);
    public abstract void Dispose();

    /// <summary>Runs the network on <paramref name="tokens"/> [B, L] for the masked flattened positions <paramref name="allRows"/>.</summary>
    public static RowScorer Create(IDenoiser model, Tensor tokens, Tensor allRows, Tensor? sigma)
    {
        using var scope = NewDisposeScope();
        if (model is Dit dit)
        {
            var h = dit.Hidden(tokens, sigma);
            var flat = h.reshape(-1, h.shape[^1]).contiguous();
            return new DitRows(dit, flat.DetachFromDisposeScope());
        }
        var all = model.LogProbsAt(tokens, allRows, sigma);
        return new Materialised(all.DetachFromDisposeScope());
    }

    private sealed class DitRows(Dit dit, Tensor hidden) : RowScorer
    {
        public override Tensor Score(Tensor rows, long start, long count)
        {
            using var scope = NewDisposeScope();
            return Subs.MaskedRows(dit.ProjectRows(hidden.index_select(0, rows)), dit.MaskIndex).MoveToOuterDisposeScope();
        }

        public override void Dispose() => hidden.Dispose();
    }

    private sealed class Materialised(Tensor all) : RowScorer
    {
        public override Tensor Score(Tensor rows, long start, long count) => all.narrow(0, start, count).to(ScalarType.Float32);
        public override void Dispose() => all.Dispose();
    }
}

/// <summary>Log-probs kept from the previous network call (cached sampler): either every chunk (when they fit the
/// budget) or the scorer itself, which recomputes the output layer from kept hidden states.</summary>
internal sealed class StepCache : IDisposable
{
    private readonly List<Tensor> _chunks = new();
    private RowScorer? _scorer;
    private bool _keepChunks;

    public bool Valid { get; private set; }

    /// <summary>Starts caching a fresh network evaluation.</summary>
    public void Reset(RowScorer scorer, bool keepChunks)
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
