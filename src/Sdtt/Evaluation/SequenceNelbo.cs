using Sdtt.Data;
using Sdtt.Diffusion;
using Sdtt.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>The validation NELBO of <see cref="NelboEvaluator"/> kept per sequence (same batches, same generator, same
/// time draws, so the token-weighted mean is the evaluator's number), for bootstrap intervals and paired differences:
/// every model evaluated with one seed sees the same sequences and the same t.</summary>
public static class SequenceNelbo
{
    /// <summary>Per-sequence NELBO in nats per token, and the evaluator's summary.</summary>
    public static (double[] PerSequence, NelboResult Summary) Evaluate(IDenoiser model, TokenDataset data, NelboOptions options, Action<int>? tick = null)
    {
        var schedule = new LogLinearSchedule();
        using var gen = new Generator((ulong)options.Seed, model.Device);
        var per = new List<double>();
        double sum = 0;
        long tokens = 0;
        SplitBatches.ForEach(data, options.BatchSize, options.MaxBatches, model.Device, (_, x0) =>
        {
            var (_, rowSums) = NelboEvaluator.LossTerms(model, x0, options.TimeEps, options.TimeSampling, gen, schedule);
            long len = x0.shape[1];
            foreach (var r in rowSums.to(ScalarType.Float64).cpu().data<double>().ToArray()) { per.Add(r / len); sum += r; }
            tokens += x0.numel();
            tick?.Invoke(1);
        });
        double nll = sum / tokens;
        return (per.ToArray(), new NelboResult(nll, Math.Exp(nll), nll / Math.Log(2), tokens, per.Count));
    }
}
