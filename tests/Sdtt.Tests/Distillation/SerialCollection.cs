namespace Sdtt.Tests.Distillation;

/// <summary>Tests that run the trainer, which reseeds libtorch's global generator every step (dropout draws from it), and
/// tests that set libtorch's thread count or draw from its global generator: run alone, after the parallel tests, so
/// exact-resume comparisons are not disturbed by other tests' draws (the former "torch-threads" collection had no
/// definition, so xunit ran it in parallel with everything else).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalTorchRngCollection
{
    public const string Name = "global torch RNG (serial)";
}
