using Sdtt.Data;
using Sdtt.Diffusion;
using Sdtt.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>Validation NELBO options.</summary>
/// <param name="BatchSize">Sequences per batch (one t per sequence).</param>
/// <param name="MaxSequences">Evaluate at most this many validation sequences (≤ 0: all).</param>
/// <param name="Seed">Seed of t and of the masks (fixed: repeated runs give identical numbers).</param>
/// <param name="Sampling">How t is drawn per batch (SDTT: lattice with ε = 1e−5; MDLM: stratified with ε = 1e−3).</param>
/// <param name="Eps">Lower end of t.</param>
public sealed record ValidationNelboOptions(int BatchSize = 16, int MaxSequences = 0, int Seed = 0, TimeSampling Sampling = TimeSampling.Lattice, double Eps = 1e-5);

/// <summary>Validation NELBO: NLL per token in nats (an upper bound on the true NLL), its perplexity and bits per token.</summary>
public sealed record ValidationNelboResult(double Nll, double Perplexity, double BitsPerToken, long Sequences, long Tokens);

/// <summary>The MDLM validation estimator (reference B.4): one t per sequence, x_t ~ q(x_t | x_0), loss = Σ masked
/// −log p_θ(x_0) / t over all tokens, divided by the number of tokens; PPL = exp(NLL).</summary>
public static class ValidationNelbo
{
    /// <summary>Runs over the "valid" split of a prepared token folder (<see cref="TokenDataset"/>).</summary>
    public static ValidationNelboResult Compute(IDenoiser model, TokenDataset data, ValidationNelboOptions? options = null, Action<int>? progress = null)
    {
        var o = options ?? new ValidationNelboOptions();
        long n = o.MaxSequences > 0 ? Math.Min(o.MaxSequences, data.Count) : data.Count;
        if (n == 0) throw new SdttException($"{data.Path}: the split has no sequence");
        var gen = new Generator((ulong)o.Seed);
        var schedule = new LogLinearSchedule();
        double total = 0;
        for (long start = 0; start < n; start += o.BatchSize)
        {
            int b = (int)Math.Min(o.BatchSize, n - start);
            using var scope = NewDisposeScope();
            var x0 = data.Batch(Enumerable.Range(0, b).Select(i => start + i).ToList());
            var t = TimeSampler.Sample(b, o.Eps, o.Sampling, generator: gen);
            var xt = ForwardProcess.Mask(x0, schedule.MoveChance(t), model.MaskIndex, gen);
            var (_, rows) = MdlmLoss.Compute(model, x0.to(model.Device), xt.to(model.Device), t.to(model.Device), schedule);
            total += rows.to(ScalarType.Float64).sum().item<double>();
            progress?.Invoke(b);
        }
        long tokens = n * data.SeqLen;
        double nll = total / tokens;
        return new ValidationNelboResult(nll, Math.Exp(nll), nll / Math.Log(2), n, tokens);
    }
}
