using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Sampling.Autoregressive;

/// <summary>Autoregressive generation with a <see cref="GptModel"/>: prefill of the prompt into a <see cref="KvCache"/>,
/// then one single-token decode step per new token (or full recomputation without the cache). Supports temperature,
/// top-k, top-p (HF style), greedy decoding, per-row stop at EOS, batches and seeds.</summary>
public static class ArGenerator
{
    /// <summary>A [batch, 1] prompt holding only BOS/EOS (50256), GPT-2's unconditional start.</summary>
    public static Tensor BosPrompt(long batch, Device device, int bos = 50256) =>
        full(new[] { batch, 1L }, bos, ScalarType.Int64, device);

    /// <summary>Generates <see cref="ArGenerationOptions.MaxNewTokens"/> tokens after <paramref name="prompt"/> [B, P] (all rows
    /// the same length P ≥ 1) and returns [B, P + N] int64 on the model's device. The model runs in eval mode (its mode is
    /// restored afterwards) without gradients. <paramref name="onToken"/> receives the step index and the new tokens [B]
    /// (valid only during the call). Rows finished at EOS (with <see cref="ArGenerationOptions.StopAtEos"/>) are padded
    /// with EOS.</summary>
    public static Tensor Generate(GptModel model, Tensor prompt, ArGenerationOptions options,
        Action<int, Tensor>? onToken = null, CancellationToken cancellation = default)
    {
        options.Validate();
        if (prompt.dim() != 2 || prompt.shape[1] < 1) throw new SdttException("the prompt must be [batch, length ≥ 1] token ids");
        long b = prompt.shape[0], p = prompt.shape[1], n = options.MaxNewTokens;
        if (p + n > model.Config.NPositions)
            throw new SdttException($"prompt ({p}) + new tokens ({n}) exceed the model's n_positions {model.Config.NPositions}");
        var device = model.Device;
        using var generator = options.Seed is { } seed ? new Generator((ulong)seed, device) : null;
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var output = zeros(new[] { b, p + n }, ScalarType.Int64, device);
            output.narrow(1, 0, p).copy_(prompt);
            var finished = zeros(b, ScalarType.Bool, device);
            using var cache = options.UseCache ? KvCache.For(model, b, p + n) : null;
            var logits = model.Forward(output.narrow(1, 0, p), cache, lastOnly: true).select(1, 0);
            for (int step = 0; step < n; step++)
            {
                cancellation.ThrowIfCancellationRequested();
                using var stepScope = NewDisposeScope();
                var next = Choose(logits, options, generator);
                if (options.StopAtEos)
                {
                    next = where(finished, full_like(next, options.EosId), next);
                    finished.logical_or_(next.eq(options.EosId));
                }
                output.select(1, p + step).copy_(next);
                onToken?.Invoke(step, next);
                if (options.StopAtEos && finished.all().item<bool>())
                {
                    if (step + 1 < n) output.narrow(1, p + step + 1, n - step - 1).fill_(options.EosId);
                    break;
                }
                if (step + 1 == n) break;
                var nextLogits = cache is not null
                    ? model.Forward(next.unsqueeze(1), cache).select(1, 0)
                    : model.Forward(output.narrow(1, 0, p + step + 1), null, lastOnly: true).select(1, 0);
                var previous = logits;
                logits = nextLogits.MoveToOuterDisposeScope();
                previous.Dispose(); // keep one [B, V] row of logits alive, not one per step
            }
            return output.MoveToOuterDisposeScope();
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>Picks the next token [B] from logits [B, V]: argmax when greedy, else a sample from
    /// softmax(top-p(top-k(logits / temperature))).</summary>
    public static Tensor Choose(Tensor logits, ArGenerationOptions options, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        logits = logits.to(ScalarType.Float32);
        if (options.Greedy) return logits.argmax(-1).MoveToOuterDisposeScope();
        if (options.Temperature != 1.0) logits = logits / options.Temperature;
        logits = LogitsFilter.TopK(logits, options.TopK);
        logits = LogitsFilter.TopP(logits, options.TopP);
        return SampleRows(logits.softmax(-1), generator).MoveToOuterDisposeScope();
    }

    /// <summary>One categorical draw per row of (possibly unnormalised) probabilities [B, V] by inverting the CDF: u ~ U[0, 1) scaled by the row total,
    /// first index whose float64 cumulative sum exceeds it. Zero-probability (filtered) tokens are never drawn. One uniform per
    /// row instead of V (torch.multinomial's exponential race), which matters on the CPU.</summary>
    public static Tensor SampleRows(Tensor probs, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var cdf = probs.to(ScalarType.Float64).cumsum(-1);
        var u = rand(new[] { probs.shape[0], 1L }, ScalarType.Float64, probs.device, generator: generator) * cdf[.., ^1..];
        var idx = searchsorted(cdf, u, out_int32: false, right: true, sorter: null).squeeze(1);
        return idx.clamp_max(probs.shape[^1] - 1).MoveToOuterDisposeScope();
    }
}
