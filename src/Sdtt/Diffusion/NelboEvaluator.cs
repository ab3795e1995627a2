using Sdtt.Data;
using Sdtt.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Diffusion;

/// <summary>Options of a NELBO evaluation.</summary>
/// <param name="BatchSize">Sequences per forward pass.</param>
/// <param name="MaxBatches">Batches evaluated from the start of the split (0 = all; the last partial batch is included).</param>
/// <param name="Seed">Seed of t and the masks (fixed, so repeated evaluations are comparable).</param>
/// <param name="TimeEps">Floor ε of the time draw t = (1 − ε) u + ε (MDLM: 1e-3).</param>
/// <param name="TimeSampling">How t is drawn per batch (MDLM: stratified).</param>
public sealed record NelboOptions(int BatchSize = 16, int MaxBatches = 0, long Seed = 1234, double TimeEps = 1e-3,
    TimeSampling TimeSampling = TimeSampling.Stratified);

/// <summary>A NELBO evaluation: nll (nats per token, an upper bound of the NLL), ppl = exp(nll), bpd = nll / ln 2.</summary>
public sealed record NelboResult(double Nll, double Ppl, double Bpd, long Tokens, long Sequences)
{
    /// <summary>As a metrics dictionary (nll first).</summary>
    public IReadOnlyDictionary<string, double> ToMetrics() => new Dictionary<string, double>
    {
        ["nll"] = Nll, ["ppl"] = Ppl, ["bpd"] = Bpd, ["tokens"] = Tokens,
    };
}

/// <summary>The MDLM validation metric: the stochastic one-t-per-sequence NELBO estimator (same as training) averaged
/// over every token of a split in float64, reported as a perplexity bound and bits per token (reference B.4).</summary>
public static class NelboEvaluator
{
    /// <summary>Evaluates <paramref name="model"/> (put it in eval mode first) on <paramref name="data"/>.</summary>
    public static NelboResult Evaluate(IDenoiser model, TokenDataset data, NelboOptions? options = null,
        IProgress<(long Done, long Total)>? progress = null, LogLinearSchedule? schedule = null)
    {
        var o = options ?? new NelboOptions();
        if (o.BatchSize <= 0) throw new SdttException($"NELBO batch size must be positive (got {o.BatchSize})");
        schedule ??= new LogLinearSchedule();
        var device = model.Device;
        using var gen = new Generator((ulong)o.Seed, device);
        double sum = 0;
        long tokens = 0, seqs = 0;
        SplitBatches.ForEach(data, o.BatchSize, o.MaxBatches, device, (_, x0) =>
        {
            var (_, rowSums) = LossTerms(model, x0, o.TimeEps, o.TimeSampling, gen, schedule);
            sum += rowSums.to(ScalarType.Float64).sum().item<double>();
            tokens += x0.numel();
            seqs += x0.shape[0];
        }, progress);
        double nll = sum / tokens;
        return new NelboResult(nll, Math.Exp(nll), nll / Math.Log(2), tokens, seqs);
    }

    /// <summary>One draw of the estimator for clean tokens x0 [B, L]: t per sequence, x_t ~ q(x_t | x0), and
    /// <see cref="MdlmLoss.Compute"/>. Returns (mean loss over all B·L tokens, per-row sums [B]).</summary>
    public static (Tensor Loss, Tensor RowSums) LossTerms(IDenoiser model, Tensor x0, double samplingEps, TimeSampling mode,
        Generator? generator, LogLinearSchedule schedule)
    {
        using var scope = NewDisposeScope();
        var t = TimeSampler.Sample((int)x0.shape[0], samplingEps, mode, x0.device, generator);
        var xt = ForwardProcess.Mask(x0, schedule.MoveChance(t), model.MaskIndex, generator);
        var (loss, rows) = MdlmLoss.Compute(model, x0, xt, t, schedule, schedule.Sigma(t));
        return (loss.MoveToOuterDisposeScope(), rows.MoveToOuterDisposeScope());
    }
}
