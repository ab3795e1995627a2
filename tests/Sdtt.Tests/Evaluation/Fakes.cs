using Sdtt.Evaluation;
using Sdtt.Models;
using Sdtt.Native;
using static TorchSharp.torch;

namespace Sdtt.Tests.Evaluation;

/// <summary>An AR judge whose next-token distribution is given analytically by <c>logp(prefix, next)</c>.</summary>
internal sealed class FakeJudge : IJudge
{
    readonly Func<IReadOnlyList<long>, int, double> _logp;
    public FakeJudge(int vocab, Func<IReadOnlyList<long>, int, double> logp, int maxLength = 4096)
    {
        TorchRuntime.EnsureLoaded();
        VocabSize = vocab; _logp = logp; MaxLength = maxLength;
    }
    public int VocabSize { get; }
    public int MaxLength { get; }
    public Device Device => CPU;
    public int Calls { get; private set; }

    /// <summary>Uniform over V: every token has log-prob −ln V, so generative perplexity is exactly V.</summary>
    public static FakeJudge Uniform(int v, int maxLength = 4096) => new(v, (_, _) => -Math.Log(v), maxLength);

    /// <summary>p(next = prev + 1 mod V) = 0.9, the rest uniform.</summary>
    public static FakeJudge Successor(int v) => new(v, (pre, next) => next == (pre[^1] + 1) % v ? Math.Log(0.9) : Math.Log(0.1 / (v - 1)));

    public Tensor TokenLogProbs(Tensor tokens)
    {
        Calls++;
        var (b, l, ids) = Read(tokens);
        var outp = new float[b * (l - 1)];
        for (int i = 0; i < b; i++)
            for (int j = 1; j < l; j++)
                outp[i * (l - 1) + j - 1] = (float)_logp(ids[i][..j], (int)ids[i][j]);
        return tensor(outp, new long[] { b, l - 1 });
    }

    public Tensor GreedyTokens(Tensor tokens)
    {
        var (b, l, ids) = Read(tokens);
        var outp = new long[b * (l - 1)];
        for (int i = 0; i < b; i++)
            for (int j = 1; j < l; j++)
            {
                var pre = ids[i][..j];
                int best = 0; double bv = double.NegativeInfinity;
                for (int v = 0; v < VocabSize; v++) { var s = _logp(pre, v); if (s > bv) { bv = s; best = v; } }
                outp[i * (l - 1) + j - 1] = best;
            }
        return tensor(outp, new long[] { b, l - 1 });
    }

    public Tensor Features(Tensor tokens)
    {
        var (b, l, ids) = Read(tokens);
        var f = new float[b * 2];
        for (int i = 0; i < b; i++) { f[2 * i] = ids[i][^1]; f[2 * i + 1] = ids[i].Sum(); }
        return tensor(f, new long[] { b, 2 });
    }

    static (int B, int L, long[][] Ids) Read(Tensor tokens)
    {
        int b = (int)tokens.shape[0], l = (int)tokens.shape[1];
        var flat = tokens.cpu().data<long>().ToArray();
        var ids = Enumerable.Range(0, b).Select(i => flat[(i * l)..((i + 1) * l)]).ToArray();
        return (b, l, ids);
    }
}

/// <summary>A diffusion denoiser that puts probability <c>p</c> on token <c>c</c> at every masked position and spreads the
/// rest uniformly over the other real tokens (mask column −∞); unmasked positions are carried over (SUBS).</summary>
internal sealed class ConstantDenoiser : IDenoiser
{
    readonly int _c; readonly double _p;
    public ConstantDenoiser(int vocab, int c, double p) { TorchRuntime.EnsureLoaded(); VocabSize = vocab; _c = c; _p = p; }
    public int MaskIndex => VocabSize - 1;
    public int VocabSize { get; }
    public bool TimeConditioned => false;
    public Device Device => CPU;

    Tensor Row()
    {
        var row = new float[VocabSize];
        for (int v = 0; v < VocabSize; v++) row[v] = (float)Math.Log((1 - _p) / (VocabSize - 2));
        row[_c] = (float)Math.Log(_p);
        row[MaskIndex] = -1e6f;
        return tensor(row);
    }

    public Tensor LogProbs(Tensor tokens, Tensor? sigma = null)
    {
        using var scope = NewDisposeScope();
        var b = tokens.shape[0]; var l = tokens.shape[1];
        var masked = Row().expand(b, l, VocabSize);
        var carry = full(b, l, VocabSize, -1e6f).scatter(2, tokens.unsqueeze(-1), zeros(b, l, 1));
        return where(tokens.eq(MaskIndex).unsqueeze(-1), masked, carry).MoveToOuterDisposeScope();
    }

    public Tensor LogProbsAt(Tensor tokens, Tensor rowIndex, Tensor? sigma = null)
    {
        using var scope = NewDisposeScope();
        return Row().unsqueeze(0).expand(rowIndex.shape[0], VocabSize).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>−log p of the true token at a masked position.</summary>
    public double Nll(int token) => token == _c ? -Math.Log(_p) : -Math.Log((1 - _p) / (VocabSize - 2));
}

/// <summary>A tiny character-level tokenizer for models with a small vocabulary: char → (code mod 97) + 2, BOS = EOS = 1.</summary>
internal static class CharTokenizer
{
    public static EvalTokenizer Instance { get; } = new(s => s.Select(ch => ch % 97 + 2).ToArray(), 1, 1);
}
