using Sdtt.Distillation;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Cli.Commands;

/// <summary>The per-round quick evaluation of <c>sdtt distill --judge</c>: a few unconditional samples from the new EMA
/// student at its own step count (ancestral sampler), scored by an autoregressive judge with the SDTT protocol (per-sample
/// mean next-token NLL, generative perplexity = exp of the mean over samples; reference F.1), plus the mean per-sample
/// unigram entropy of the tokens (nats).</summary>
internal static class RoundJudge
{
    public static Func<FinishedRound, IReadOnlyList<KeyValuePair<string, double>>> Create(string judgeDir, int samples, int seqLen, Device device, long seed)
    {
        if (samples < 1) throw new SdttException($"--eval-samples must be ≥ 1 (got {samples})");
        if (!Directory.Exists(judgeDir)) throw new SdttException($"--judge {judgeDir}: model folder not found");
        if (!GptModelFolder.IsGptFolder(judgeDir))
            throw new SdttException($"--judge {judgeDir}: not an autoregressive (GPT-2) model folder{(File.Exists(Path.Combine(judgeDir, ModelFolder.ConfigFile)) ? " (a diffusion model cannot judge; train one with `sdtt train --model-type ar`)" : "")}");
        GptModelFolder.Load(judgeDir).Dispose(); // the weights load now, not after the first round
        var judgeCfg = GptModelFolder.ReadConfig(judgeDir);
        if (judgeCfg.NPositions < seqLen) throw new SdttException($"{judgeDir}: the judge handles {judgeCfg.NPositions} positions, the samples have {seqLen}");
        return info =>
        {
            using var judge = GptModelFolder.Load(judgeDir, device);
            using var student = ModelFolder.LoadDit(info.EmaDir, device);
            if (student.MaskIndex > judgeCfg.VocabSize)
                throw new SdttException($"{judgeDir}: the judge's vocabulary ({judgeCfg.VocabSize}) does not cover the student's tokens ({student.MaskIndex})");
            var result = SamplerRegistry.Get(SamplerRegistry.Default).Sample(student, new SamplingOptions
            {
                Steps = info.StudentSteps, NumSamples = samples, SeqLen = seqLen, Seed = seed + 1000L * info.Round,
            });
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var tokens = result.ToTensor().to(device);
            var lp = judge.TokenLogProbs(tokens).to(ScalarType.Float64);
            double meanNll = (-lp.mean(new long[] { 1 })).mean().item<double>();
            double entropy = result.Tokens.Average(Entropy);
            return new List<KeyValuePair<string, double>>
            {
                new("gen_ppl", Math.Exp(meanNll)), new("entropy", entropy), new("eval_samples", samples),
                new("sampling_s", result.Elapsed.TotalSeconds),
            };
        };
    }

    private static double Entropy(long[] tokens)
    {
        double n = tokens.Length, h = 0;
        foreach (var g in tokens.GroupBy(t => t))
        {
            double p = g.Count() / n;
            h -= p * Math.Log(p);
        }
        return h;
    }
}
