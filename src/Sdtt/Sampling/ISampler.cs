using Sdtt.Models;

namespace Sdtt.Sampling;

/// <summary>A sampler of a masked diffusion model: any <see cref="IDenoiser"/> in, token sequences out.</summary>
public interface ISampler
{
    /// <summary>Draws <see cref="SamplingOptions.NumSamples"/> sequences.</summary>
    SamplingResult Sample(IDenoiser model, SamplingOptions options);
}
