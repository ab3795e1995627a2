namespace Sdtt.Tests.Distillation;

/// <summary>Tests that run the trainer, which reseeds libtorch's global generator every step (dropout draws from it):
/// run alone, after the parallel tests, so exact-resume comparisons are not disturbed by other tests' draws.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalTorchRngCollection
{
    public const string Name = "global torch RNG (serial)";
}
