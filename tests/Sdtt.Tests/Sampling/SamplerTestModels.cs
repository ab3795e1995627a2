using Sdtt.Models;
using Sdtt.Native;
using static TorchSharp.torch;

namespace Sdtt.Tests.Sampling;

/// <summary>Tiny DiTs with every parameter drawn at random (the reference init zeroes the output layer, which would make
/// p_θ uniform and hide bugs).</summary>
internal static class SamplerTestModels
{
    public static Dit RandomDit(int vocab = 50, int length = 16, long seed = 7, bool timeConditioned = false, int hidden = 32, int blocks = 1)
    {
        TorchRuntime.EnsureLoaded();
        var model = new Dit(new DitConfig(hidden, 2, blocks, CondDim: 16, VocabSize: vocab, ModelLength: length, TimeConditioning: timeConditioned));
        using var g = new Generator((ulong)seed);
        using (no_grad())
        {
            foreach (var (name, p) in model.named_parameters())
            {
                using var r = randn(p.shape, generator: g);
                double scale = name.Contains("output_layer.linear") ? 3.0 / Math.Sqrt(hidden) : p.dim() > 1 ? 1.0 / Math.Sqrt(p.shape[^1]) : 0.3;
                p.copy_(r * scale + (name.Contains("norm") ? 1.0 : 0.0));
            }
        }
        model.eval();
        return model;
    }
}
