using Sdtt.Diffusion;
using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Tests.Distillation;

/// <summary>A deterministic stand-in teacher: at a masked position l of row b its distribution peaks at token
/// (c_b + l) mod (V − 1), where c_b is the number of visible (unmasked) tokens in row b. So the distribution a target row
/// holds tells which context (which sub-step) produced it. Records the rows of every call.</summary>
internal sealed class ToyTeacher : IDenoiser
{
    public ToyTeacher(int vocab) => VocabSize = vocab;
    public int MaskIndex => VocabSize - 1;
    public int VocabSize { get; }
    public bool TimeConditioned => false;
    public Device Device => CPU;
    public List<long[]> Calls { get; } = new();

    /// <summary>The peak token for a row with <paramref name="visible"/> unmasked tokens at position <paramref name="pos"/>.</summary>
    public long Peak(long visible, long pos) => (visible + pos) % (VocabSize - 1);

    /// <summary>Log-probs [V] of a masked position given its row's visible count.</summary>
    public Tensor Row(long visible, long pos)
    {
        var logits = zeros(VocabSize);
        logits[Peak(visible, pos)] = tensor(3f);
        return Subs.MaskedRows(logits.unsqueeze(0), MaskIndex).squeeze(0);
    }

    public Tensor LogProbs(Tensor tokens, Tensor? sigma = null)
    {
        long b = tokens.shape[0], l = tokens.shape[1];
        var logits = zeros(b, l, VocabSize);
        var visible = tokens.ne(MaskIndex).sum(1);
        for (long i = 0; i < b; i++)
            for (long j = 0; j < l; j++)
                logits[i, j, Peak(visible[i].item<long>(), j)] = tensor(3f);
        return Subs.Apply(logits, tokens, MaskIndex);
    }

    public Tensor LogProbsAt(Tensor tokens, Tensor rowIndex, Tensor? sigma = null)
    {
        Calls.Add(rowIndex.data<long>().ToArray());
        Assert.True(tokens.reshape(-1).index_select(0, rowIndex).eq(MaskIndex).all().item<bool>(), "LogProbsAt on an unmasked row");
        return LogProbs(tokens).reshape(-1, VocabSize).index_select(0, rowIndex);
    }
}
