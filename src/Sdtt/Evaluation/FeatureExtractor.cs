using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>Judge features for MAUVE: rows are truncated to <c>maxTokens</c>, grouped by length (the feature is read at the
/// last token, so rows of a batch must have the same length) and fed in batches.</summary>
public static class FeatureExtractor
{
    /// <summary>Features [n, D] (float32, CPU) in input order.</summary>
    public static Tensor Extract(IJudge judge, IReadOnlyList<int[]> rows, int maxTokens, int batchSize = 8, Action<int>? progress = null)
    {
        if (rows.Count == 0) throw new SdttException("MAUVE: no sequences to featurise");
        int cap = Math.Min(maxTokens, judge.MaxLength);
        var cut = rows.Select(r => r.Length > cap ? r[..cap] : r).ToList();
        if (cut.Any(r => r.Length == 0)) throw new SdttException("MAUVE: an empty sequence cannot be featurised");
        var feats = new Tensor?[cut.Count];
        using var noGrad = no_grad();
        foreach (var group in Enumerable.Range(0, cut.Count).GroupBy(i => cut[i].Length))
        {
            var idx = group.ToList();
            for (int s = 0; s < idx.Count; s += batchSize)
            {
                var part = idx.Skip(s).Take(batchSize).ToList();
                int len = group.Key;
                var ids = new long[part.Count * len];
                for (int i = 0; i < part.Count; i++) for (int l = 0; l < len; l++) ids[i * len + l] = cut[part[i]][l];
                using var scope = NewDisposeScope();
                var f = judge.Features(tensor(ids, new long[] { part.Count, len }).to(judge.Device)).to(ScalarType.Float32).cpu();
                for (int i = 0; i < part.Count; i++) feats[part[i]] = f[i].clone().MoveToOuterDisposeScope();
                progress?.Invoke(part.Count);
            }
        }
        var result = stack(feats!, 0);
        foreach (var t in feats) t!.Dispose();
        return result;
    }
}
