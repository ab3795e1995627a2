using static TorchSharp.torch;

namespace Sdtt.Serving;

/// <summary>Next-token draws for a batch whose rows have their own temperature, top-p and uniform: logits [B, V] are
/// divided by each row's temperature, filtered by each row's nucleus (HF style: keep tokens until the cumulative
/// probability first exceeds p, always the most likely), and one token per row is drawn by inverting the float64 CDF
/// with the row's uniform. A row's draw depends only on its own logits and settings, so it is the same alone and batched.</summary>
public static class RowSampler
{
    /// <summary>Tokens [B] for logits [B, V], temperatures, top-p thresholds and uniforms in [0, 1), one per row.</summary>
    public static long[] Sample(Tensor logits, IReadOnlyList<double> temperature, IReadOnlyList<double> topP, IReadOnlyList<double> uniforms)
    {
        using var scope = NewDisposeScope();
        long b = logits.shape[0];
        if (temperature.Count != b || topP.Count != b || uniforms.Count != b)
            throw new SdttException($"row sampler: {b} rows but {temperature.Count} temperatures, {topP.Count} top-p values and {uniforms.Count} uniforms");
        var device = logits.device;
        var t = tensor(temperature.Select(x => (float)x).ToArray(), new[] { b, 1L }, device: device);
        var probs = (logits.to(ScalarType.Float32) / t).softmax(-1);
        if (topP.Any(p => p < 1))
        {
            var p = tensor(topP.ToArray(), new[] { b, 1L }, device: device);
            var (sorted, index) = probs.sort(-1, descending: true);
            var before = sorted.to(ScalarType.Float64).cumsum(-1) - sorted.to(ScalarType.Float64);   // mass strictly before each token
            var removeSorted = before.gt(p);   // the token that crosses p and the first token are kept
            var remove = zeros_like(removeSorted).scatter(-1, index, removeSorted);
            probs = probs.masked_fill(remove, 0.0);
        }
        var cdf = probs.to(ScalarType.Float64).cumsum(-1);
        var u = tensor(uniforms.ToArray(), new[] { b, 1L }, device: device) * cdf[.., ^1..];
        var idx = searchsorted(cdf, u, out_int32: false, right: true, sorter: null).squeeze(1).clamp_max(probs.shape[^1] - 1);
        using var cpu = idx.cpu();
        return cpu.data<long>().ToArray();
    }
}
