namespace Sdtt.Evaluation;

/// <summary>The one truncation rule of LAMBADA and multiple-choice scoring, shared by the AR and diffusion paths so that
/// both read the same context: a sequence is [BOS] + context + continuation + one slot (the EOS the diffusion side
/// appends; the AR side leaves it unused), and a context that does not fit loses its OLDEST tokens.</summary>
public static class ContextWindow
{
    /// <summary>The effective limit: <paramref name="requested"/> (≤ 0: none) capped by a model window (≤ 0: none);
    /// 0 when neither limits.</summary>
    public static int Limit(int requested, int window) =>
        requested > 0 && window > 0 ? Math.Min(requested, window) : Math.Max(0, requested > 0 ? requested : window);

    /// <summary>The last context tokens that fit [BOS] + context + continuation + 1 slot into <paramref name="maxTokens"/>
    /// (≤ 0: all), and whether any were dropped.</summary>
    public static (int[] Context, bool Truncated) Fit(int[] context, int continuationLength, int maxTokens)
    {
        if (maxTokens <= 0) return (context, false);
        if (continuationLength + 2 > maxTokens)
            throw new SdttException($"a continuation of {continuationLength} tokens does not fit the context limit ({maxTokens} tokens)");
        int keep = Math.Min(context.Length, maxTokens - 2 - continuationLength);
        return keep == context.Length ? (context, false) : (context[(context.Length - keep)..], true);
    }
}
