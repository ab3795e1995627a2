namespace Sdtt.Serving;

/// <summary>Settings of a <see cref="CompletionEngine"/> (the server's <c>--max-batch</c>, <c>--max-queue</c>, …).</summary>
public sealed record CompletionEngineOptions
{
    /// <summary>Most requests sampled together in one batch (≥ 1).</summary>
    public int MaxBatch { get; init; } = 16;
    /// <summary>Most requests waiting (not yet in a batch); a request beyond it gets <see cref="QueueFullException"/> at once.</summary>
    public int MaxQueue { get; init; } = 64;
    /// <summary>How long the worker waits after the first request arrives at an idle engine for others to join its batch
    /// (0 = none: requests that arrive while a batch runs are batched anyway). Tests use it to make batches deterministic.</summary>
    public TimeSpan BatchWindow { get; init; } = TimeSpan.Zero;
    /// <summary>Diffusion steps per block when a request names none.</summary>
    public int DefaultSteps { get; init; } = 16;
    /// <summary>Largest accepted steps value.</summary>
    public int MaxSteps { get; init; } = 1024;
    /// <summary>Largest accepted max-tokens value (diffusion: any length, by semi-autoregressive blocks; GPT: also
    /// bounded by n_positions).</summary>
    public int MaxTokensLimit { get; init; } = 4096;
    /// <summary>Diffusion: a block's sequence length (prompt + tokens to generate) is rounded up to a multiple of this
    /// (capped at the model length), so requests with different prompt lengths share batches; the extra positions are
    /// sampled and dropped. 1 = exact lengths.</summary>
    public int LengthBucket { get; init; } = 32;
    /// <summary>Diffusion: tokens of the previous block kept as the prompt of the next (semi-autoregressive); 0 = half
    /// the model length.</summary>
    public int BlockContext { get; init; }
    /// <summary>Model name reported to clients (default: the model folder's name).</summary>
    public string? ModelId { get; init; }
    /// <summary>Device: "cpu", "cuda", "auto".</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Called on the worker thread after every batch (metrics).</summary>
    public Action<BatchInfo>? OnBatch { get; init; }

    /// <summary>Throws <see cref="SdttException"/> for an invalid setting.</summary>
    public CompletionEngineOptions Validate()
    {
        if (MaxBatch < 1) throw new SdttException($"max-batch must be ≥ 1 (got {MaxBatch})");
        if (MaxQueue < 1) throw new SdttException($"max-queue must be ≥ 1 (got {MaxQueue})");
        if (DefaultSteps < 1 || DefaultSteps > MaxSteps) throw new SdttException($"default steps must be in [1, {MaxSteps}] (got {DefaultSteps})");
        if (MaxTokensLimit < 1) throw new SdttException($"max tokens limit must be ≥ 1 (got {MaxTokensLimit})");
        if (LengthBucket < 1) throw new SdttException($"length bucket must be ≥ 1 (got {LengthBucket})");
        if (BatchWindow < TimeSpan.Zero) throw new SdttException($"batch window must not be negative (got {BatchWindow})");
        if (BlockContext < 0) throw new SdttException($"block context must be ≥ 0 (got {BlockContext})");
        return this;
    }
}

/// <summary>One batch the engine ran.</summary>
/// <param name="Size">Requests in the batch.</param>
/// <param name="SeqLen">Diffusion: the block's sequence length; GPT: the prompt length.</param>
/// <param name="Steps">Diffusion steps (0 for GPT).</param>
/// <param name="NetworkCalls">Forward passes made.</param>
/// <param name="Elapsed">Wall-clock time of the batch.</param>
public sealed record BatchInfo(int Size, int SeqLen, int Steps, int NetworkCalls, TimeSpan Elapsed);

/// <summary>The two kinds of model folder the engine serves.</summary>
public enum ServedModelKind
{
    /// <summary>A masked diffusion DiT (sampled with the default sampler).</summary>
    Diffusion,
    /// <summary>A GPT-2 causal LM (KV-cached decoding).</summary>
    Autoregressive,
}
