using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>Fixed tokens for prompted generation and general infilling: positions whose token is given and never changed
/// by the sampler (the reference's <c>project_fn</c>, applied to the prior, after every step and after the final fill).
/// Values are per sample [B][L] with −1 meaning "free", or shared by every sample.</summary>
public sealed class TokenConstraint
{
    private readonly long[][] _values;
    private readonly bool _shared;

    private TokenConstraint(long[][] values, bool shared)
    {
        _values = values;
        _shared = shared;
    }

    /// <summary>Whether the same constraint applies to every sample.</summary>
    public bool Shared => _shared;

    /// <summary>The given tokens at positions [0, len) of every sample (the reference README's prompt).</summary>
    public static TokenConstraint Prefix(IReadOnlyList<long> tokens) =>
        At(tokens.Select((tok, i) => new KeyValuePair<int, long>(i, tok)));

    /// <summary>The given (position, token) pairs in every sample.</summary>
    public static TokenConstraint At(IEnumerable<KeyValuePair<int, long>> fixedTokens)
    {
        var pairs = fixedTokens.ToList();
        if (pairs.Count == 0) return new TokenConstraint(new[] { Array.Empty<long>() }, true);
        if (pairs.Any(p => p.Key < 0)) throw new SdttException("fixed token positions must be ≥ 0");
        if (pairs.Any(p => p.Value < 0)) throw new SdttException("fixed token ids must be ≥ 0");
        var row = Enumerable.Repeat(-1L, pairs.Max(p => p.Key) + 1).ToArray();
        foreach (var (pos, tok) in pairs)
        {
            if (row[pos] >= 0 && row[pos] != tok) throw new SdttException($"position {pos} is fixed to two different tokens");
            row[pos] = tok;
        }
        return new TokenConstraint(new[] { row }, true);
    }

    /// <summary>Per-sample fixed tokens: <paramref name="values"/>[b][l] ≥ 0 is fixed, −1 is free. Rows may be shorter
    /// than the sequence (the rest is free).</summary>
    public static TokenConstraint PerSample(long[][] values)
    {
        if (values.Length == 0) throw new SdttException("per-sample constraint has no rows");
        if (values.Any(r => r.Any(v => v < -1))) throw new SdttException("constraint values must be token ids or −1 (free)");
        return new TokenConstraint(values.Select(r => (long[])r.Clone()).ToArray(), false);
    }

    /// <summary>Positions fixed in the longest row (the extent of the constraint).</summary>
    public int Extent => _values.Max(r => r.Length);


    private long[] Row(int b) => _shared ? _values[0] : _values[b];

    /// <summary>Combines two constraints; a position fixed by both must agree.</summary>
    public TokenConstraint Merge(TokenConstraint other)
    {
        int rows = _shared && other._shared ? 1 : Math.Max(_shared ? 1 : _values.Length, other._shared ? 1 : other._values.Length);
        if (!_shared && !other._shared && _values.Length != other._values.Length)
            throw new SdttException("per-sample constraints have different sample counts");
        var merged = new long[rows][];
        for (int b = 0; b < rows; b++)
        {
            var a = Row(_shared ? 0 : b);
            var c = other.Row(other._shared ? 0 : b);
            var m = Enumerable.Repeat(-1L, Math.Max(a.Length, c.Length)).ToArray();
            for (int i = 0; i < m.Length; i++)
            {
                long x = i < a.Length ? a[i] : -1, y = i < c.Length ? c[i] : -1;
                if (x >= 0 && y >= 0 && x != y) throw new SdttException($"position {i} is fixed to two different tokens ({x} and {y})");
                m[i] = x >= 0 ? x : y;
            }
            merged[b] = m;
        }
        return new TokenConstraint(merged, _shared && other._shared);
    }

    /// <summary>Checks the constraint against a batch shape and vocabulary (one-line errors).</summary>
    public void Validate(int batch, int length, int vocabSize, int maskIndex)
    {
        if (!_shared && _values.Length != batch)
            throw new SdttException($"the constraint has {_values.Length} rows but {batch} samples are requested");
        foreach (var row in _shared ? _values : _values.Take(batch))
        {
            for (int i = 0; i < row.Length; i++)
            {
                if (row[i] < 0) continue;
                if (i >= length) throw new SdttException($"a fixed token at position {i} lies beyond the sequence length {length}");
                if (row[i] >= vocabSize || row[i] == maskIndex)
                    throw new SdttException($"fixed token id {row[i]} at position {i} is not a token of this model (vocabulary {vocabSize}, mask {maskIndex})");
            }
        }
    }

    /// <summary>(fixed [B, L] bool, tokens [B, L] int64 with 0 where free) on <paramref name="device"/>.</summary>
    public (Tensor Fixed, Tensor Tokens) ToTensors(int batch, int length, Device device)
    {
        var fixedMask = new bool[batch * length];
        var tokens = new long[batch * length];
        for (int b = 0; b < batch; b++)
        {
            var row = Row(_shared ? 0 : b);
            for (int i = 0; i < Math.Min(row.Length, length); i++)
            {
                if (row[i] < 0) continue;
                fixedMask[b * length + i] = true;
                tokens[b * length + i] = row[i];
            }
        }
        return (tensor(fixedMask, new long[] { batch, length }, device: device),
            tensor(tokens, new long[] { batch, length }, device: device));
    }
}
