namespace Sdtt.Sampling.Autoregressive;

/// <summary>Settings of autoregressive generation (<see cref="ArGenerator"/>).</summary>
public sealed record ArGenerationOptions
{
    /// <summary>Tokens generated after the prompt (the output always has prompt + this many columns).</summary>
    public int MaxNewTokens { get; init; } = 128;
    /// <summary>Softmax temperature (logits are divided by it); must be positive.</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Keep only the k most likely tokens (0 = off).</summary>
    public int TopK { get; init; }
    /// <summary>Nucleus sampling, HF style: keep tokens (by decreasing probability) until the cumulative probability exceeds p,
    /// always keeping the first (1 = off).</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>Take the argmax instead of sampling (temperature, top-k and top-p are then irrelevant).</summary>
    public bool Greedy { get; init; }
    /// <summary>Stop a row at its first EOS; finished rows are padded with EOS, and generation ends when all rows finished.</summary>
    public bool StopAtEos { get; init; }
    /// <summary>End-of-sequence id (GPT-2's &lt;|endoftext|&gt; = 50256).</summary>
    public int EosId { get; init; } = 50256;
    /// <summary>Seed of a private <c>torch.Generator</c> on the model's device (null = the global generator).</summary>
    public long? Seed { get; init; }
    /// <summary>Use the KV cache (true) or recompute the whole prefix at every step (false; slow, for checks and benchmarks).</summary>
    public bool UseCache { get; init; } = true;

    /// <summary>Throws <see cref="SdttException"/> for an invalid setting.</summary>
    public ArGenerationOptions Validate()
    {
        if (MaxNewTokens < 1) throw new SdttException($"max new tokens must be at least 1 (got {MaxNewTokens})");
        if (!(Temperature > 0) || double.IsInfinity(Temperature)) throw new SdttException($"temperature must be positive (got {Temperature})");
        if (TopK < 0) throw new SdttException($"top-k must be 0 (off) or positive (got {TopK})");
        if (!(TopP > 0) || TopP > 1) throw new SdttException($"top-p must be in (0, 1] (got {TopP})");
        if (EosId < 0) throw new SdttException($"EOS id must be non-negative (got {EosId})");
        return this;
    }
}
