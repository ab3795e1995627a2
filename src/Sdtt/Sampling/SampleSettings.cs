namespace Sdtt.Sampling;

/// <summary>The settings of one sample inside a batch (serving: every request brings its own). Given through
/// <see cref="SamplingOptions.PerSample"/>; only the <c>reveal-first</c> sampler supports them.</summary>
public sealed record SampleSettings
{
    /// <summary>Seed of this sample's own random stream: the sample gets the same tokens alone (NumSamples = 1,
    /// Seed = this seed) and at any position of any batch.</summary>
    public long Seed { get; init; }
    /// <summary>Temperature T &gt; 0 of this sample.</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Nucleus threshold in (0, 1] of this sample.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>Tokens fixed at positions [0, len) of this sample, or null.</summary>
    public IReadOnlyList<long>? Prompt { get; init; }
    /// <summary>Cancelling drops this sample's rows from later network calls; its batch-mates go on.</summary>
    public CancellationToken Cancellation { get; init; }
}
