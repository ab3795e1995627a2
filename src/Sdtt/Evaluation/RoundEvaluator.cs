using Sdtt.Models;
using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>The per-round quick evaluation of SDTT distillation: a few unconditional samples from the new EMA student at its
/// own step count (the default sampler), scored by an AR judge with <see cref="GenerativePerplexity.Sdtt"/> (reference F.1)
/// and described by <see cref="SampleEntropy"/> (nats).</summary>
public static class RoundEvaluator
{
    /// <summary>gen_ppl, entropy, eval_samples and sampling_s of <paramref name="samples"/> samples of
    /// <paramref name="seqLen"/> tokens drawn with <paramref name="steps"/> steps and seed <paramref name="seed"/>.</summary>
    public static IReadOnlyList<KeyValuePair<string, double>> Evaluate(IDenoiser student, IJudge judge, int steps, int samples, int seqLen, long seed)
    {
        if (samples < 1) throw new SdttException($"round evaluation: at least 1 sample needed (got {samples})");
        if (student.MaskIndex > judge.VocabSize)
            throw new SdttException($"the judge's vocabulary ({judge.VocabSize}) does not cover the student's tokens ({student.MaskIndex})");
        var result = SamplerRegistry.Get(SamplerRegistry.Default).Sample(student, new SamplingOptions
        {
            Steps = steps, NumSamples = samples, SeqLen = seqLen, Seed = seed,
        });
        using var _ = no_grad();
        var rows = result.Tokens.Select(t => t.Select(v => (int)v).ToArray()).ToList();
        var ppl = GenerativePerplexity.Sdtt(judge, rows, batchSize: Math.Max(1, samples));
        return new List<KeyValuePair<string, double>>
        {
            new("gen_ppl", ppl.Perplexity), new("entropy", SampleEntropy.Mean(rows)), new("eval_samples", samples),
            new("sampling_s", result.Elapsed.TotalSeconds),
        };
    }
}
