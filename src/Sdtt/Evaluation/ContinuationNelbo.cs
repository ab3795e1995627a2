using Sdtt.Diffusion;
using Sdtt.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>Monte-Carlo NELBO of a span of a sequence given the rest, for a masked diffusion model (the estimator of SDTT's
/// <c>eval_suffix_nll</c>, reference F.3): N copies of the sequence, one t per copy from the shifted lattice
/// (ε = 1e−5), every token masked with probability m(t), then every token outside the span restored; the loss of a copy is
/// Σ over masked positions of −log p_θ(true token) / t (the network sees σ(t), which only matters for time-conditioned
/// models); the estimate is the mean over the N copies (nats, for the whole span).</summary>
public static class ContinuationNelbo
{
    /// <summary>Default number of Monte-Carlo draws (SDTT: one batch of 32).</summary>
    public const int DefaultDraws = 32;
    /// <summary>Lower end of the t range (SDTT sampling_eps).</summary>
    public const double TimeEps = 1e-5;

    /// <summary>NELBO (nats) of tokens[<paramref name="spanStart"/>..<paramref name="spanEnd"/>) given the others.
    /// Randomness comes from <paramref name="generator"/> (a CPU generator); the model may live on any device.</summary>
    public static double Estimate(IDenoiser model, IReadOnlyList<int> tokens, int spanStart, int spanEnd, int draws,
        Generator generator, LogLinearSchedule? schedule = null)
    {
        if (draws < 1) throw new SdttException("NELBO: the number of Monte-Carlo draws must be ≥ 1");
        if (spanStart < 0 || spanEnd > tokens.Count || spanStart >= spanEnd) throw new SdttException("NELBO: empty or invalid span");
        schedule ??= new LogLinearSchedule();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        int l = tokens.Count;
        var row = tensor(tokens.Select(t => (long)t).ToArray(), new long[] { 1, l });
        var x0 = row.expand(draws, l).contiguous();
        var t = TimeSampler.Sample(draws, TimeEps, TimeSampling.Lattice, generator: generator);
        var xt = ForwardProcess.Mask(x0, schedule.MoveChance(t), model.MaskIndex, generator);
        var pos = arange(l).unsqueeze(0);
        var inSpan = pos.ge(spanStart).logical_and(pos.lt(spanEnd));
        xt = where(inSpan, xt, x0);
        var dev = model.Device;
        var td = t.to(dev);
        var (_, rowSums) = MdlmLoss.Compute(model, x0.to(dev), xt.to(dev), td, schedule, schedule.Sigma(td));
        return rowSums.to(ScalarType.Float64).mean().item<double>();
    }
}
