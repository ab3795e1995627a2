namespace Sdtt.Sampling;

/// <summary>Samplers by name (in the spirit of SEDD's <c>get_predictor</c>): <c>reveal-first</c> (the default, exact and
/// fast), <c>ancestral</c> (the reference exponential race, golden parity) and <c>ancestral-cached</c> (the reference
/// with mdlm's network-output cache: the same tokens as <c>ancestral</c>, fewer calls).</summary>
public static class SamplerRegistry
{
    /// <summary>The default sampler's name.</summary>
    public const string Default = RevealFirst;
    /// <summary>Name of <see cref="RevealFirstSampler"/>.</summary>
    public const string RevealFirst = "reveal-first";
    /// <summary>Name of the reference <see cref="AncestralSampler"/>.</summary>
    public const string Ancestral = "ancestral";
    /// <summary>Name of <see cref="CachedAncestralSampler"/>.</summary>
    public const string AncestralCached = "ancestral-cached";

    /// <summary>Every registered name.</summary>
    public static IReadOnlyList<string> Names { get; } = new[] { RevealFirst, Ancestral, AncestralCached };

    /// <summary>The sampler called <paramref name="name"/> (case-insensitive); a one-line error naming the valid names otherwise.</summary>
    public static ISampler Get(string? name) => Normalize(name) switch
    {
        RevealFirst => new RevealFirstSampler(),
        Ancestral => new AncestralSampler(),
        AncestralCached => new CachedAncestralSampler(),
        _ => throw Unknown(name),
    };

    /// <summary>The canonical name for <paramref name="name"/> (null or empty = the default).</summary>
    public static string Normalize(string? name)
    {
        var n = string.IsNullOrWhiteSpace(name) ? Default : name.Trim().ToLowerInvariant();
        if (!Names.Contains(n)) throw Unknown(name);
        return n;
    }

    /// <summary>Whether <paramref name="name"/> is one of the reference samplers (the only ones that take the
    /// categorical precision or injected uniforms).</summary>
    public static bool IsReference(string? name) => Normalize(name) is Ancestral or AncestralCached;

    private static SdttException Unknown(string? name) =>
        new($"unknown sampler '{name}'; choose one of: {string.Join(", ", Names)}");
}
