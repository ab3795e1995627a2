using System.CommandLine;
using Sdtt.Sampling;

namespace Sdtt.Cli.Commands;

/// <summary>The <c>--sampler NAME</c> option shared by sample, eval, bench and pipeline, and the reference-only precision.</summary>
internal static class SamplerOptions
{
    public static Option<string> Sampler() => new("--sampler")
    {
        Description = $"Sampler: {string.Join(", ", SamplerRegistry.Names)} (default {SamplerRegistry.Default})",
        DefaultValueFactory = _ => SamplerRegistry.Default,
    };

    /// <summary>The canonical sampler name, or a one-line error naming the valid ones.</summary>
    public static string Resolve(string? name) => SamplerRegistry.Normalize(name);

    /// <summary>The categorical precision given by <paramref name="option"/> (null = not given: float64); refused unless
    /// the sampler is a reference sampler.</summary>
    public static CategoricalPrecision Precision(string? value, string sampler, string option)
    {
        if (value is null) return CategoricalPrecision.Float64;
        if (!SamplerRegistry.IsReference(sampler))
            throw new SdttException($"{option} applies only to the reference samplers (--sampler ancestral or ancestral-cached); {sampler} always draws from the float64 CDF");
        return value.Trim().ToLowerInvariant() switch
        {
            "f64" or "float64" => CategoricalPrecision.Float64,
            "f32" or "float32" => CategoricalPrecision.Float32,
            var other => throw new SdttException($"{option} must be f64 or f32 (got '{other}')"),
        };
    }
}
