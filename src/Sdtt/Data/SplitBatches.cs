using static TorchSharp.torch;

namespace Sdtt.Data;

/// <summary>The one loop that evaluates a split: consecutive batches from the start of a token split (the last one
/// partial), each in its own dispose scope under <c>no_grad</c>. NELBO, the causal LM's NLL and the distillation loss
/// differ only in what they compute per batch.</summary>
public static class SplitBatches
{
    /// <summary>Batches of <paramref name="batchSize"/> sequences covering <paramref name="data"/>, at most
    /// <paramref name="maxBatches"/> of them (0 = all).</summary>
    public static long Count(TokenDataset data, int batchSize, int maxBatches)
    {
        long total = (data.Count + batchSize - 1) / batchSize;
        return maxBatches > 0 ? Math.Min(total, maxBatches) : total;
    }

    /// <summary>Calls <paramref name="onBatch"/> with each batch index and its tokens [n, L] on <paramref name="device"/>
    /// (tensors made inside the call are freed after it), reporting (done, total) to <paramref name="progress"/>.
    /// Returns the number of batches.</summary>
    public static long ForEach(TokenDataset data, int batchSize, int maxBatches, Device device, Action<long, Tensor> onBatch,
        IProgress<(long Done, long Total)>? progress = null)
    {
        if (batchSize <= 0) throw new SdttException($"evaluation batch size must be positive (got {batchSize})");
        long total = Count(data, batchSize, maxBatches);
        using var _ = no_grad();
        for (long b = 0; b < total; b++)
        {
            using var scope = NewDisposeScope();
            long start = b * batchSize;
            int n = (int)Math.Min(batchSize, data.Count - start);
            var x0 = data.Batch(Enumerable.Range(0, n).Select(i => start + i).ToArray(), device);
            onBatch(b, x0);
            progress?.Report((b + 1, total));
        }
        return total;
    }
}
