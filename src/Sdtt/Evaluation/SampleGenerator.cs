using Sdtt.Models;
using Sdtt.Sampling;
using Sdtt.Sampling.Autoregressive;
using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>Sample generation for the evaluation: a diffusion sampler from <see cref="SamplerRegistry"/> (SDTT protocol:
/// all-MASK prior, no BOS/EOS forced, N steps, greedy fill; default reveal-first) and AR generation from a BOS prompt. Batches are seeded seed, seed+1, …</summary>
public static class SampleGenerator
{
    /// <summary>Unconditional diffusion samples [n][seqLen].</summary>
    /// <param name="model">The denoiser.</param>
    /// <param name="numSamples">Samples to draw.</param>
    /// <param name="seqLen">Tokens per sample.</param>
    /// <param name="steps">Sampler steps.</param>
    /// <param name="seed">Seed of the first batch (batch i uses seed + i).</param>
    /// <param name="batchSize">Samples per sampler call.</param>
    /// <param name="sampler">A <see cref="SamplerRegistry"/> name (null = the default, reveal-first).</param>
    /// <param name="precision">Categorical precision (reference samplers only).</param>
    /// <param name="progress">Receives the number of samples finished by each batch.</param>
    /// <param name="prompt">Tokens fixed at positions [0, len) of every sample (conditional generation), or null.</param>
    public static List<int[]> Diffusion(IDenoiser model, int numSamples, int seqLen, int steps, int seed, int batchSize,
        string? sampler = null, CategoricalPrecision precision = CategoricalPrecision.Float64, Action<int>? progress = null, int[]? prompt = null)
    {
        var chosen = SamplerRegistry.Get(sampler);
        var rows = new List<int[]>();
        for (int b = 0; rows.Count < numSamples; b++)
        {
            int n = Math.Min(batchSize, numSamples - rows.Count);
            var r = chosen.Sample(model, new SamplingOptions
            {
                Steps = steps, NumSamples = n, SeqLen = seqLen, Seed = seed + b, Precision = precision,
                Prompt = prompt?.Select(v => (long)v).ToArray(),
            });
            rows.AddRange(r.Tokens.Select(t => t.Select(v => (int)v).ToArray()));
            progress?.Invoke(n);
        }
        return rows;
    }

    /// <summary>AR samples [n][seqLen]: a BOS token (or <paramref name="prompt"/>) followed by generated tokens up to seqLen
    /// (ancestral sampling, optional nucleus top-p).</summary>
    public static List<int[]> Autoregressive(GptModel model, int numSamples, int seqLen, int seed, int batchSize, double topP = 1.0,
        Action<int>? progress = null, int[]? prompt = null)
    {
        var rows = new List<int[]>();
        for (int b = 0; rows.Count < numSamples; b++)
        {
            int n = Math.Min(batchSize, numSamples - rows.Count);
            using var scope = NewDisposeScope();
            var start = prompt is null ? ArGenerator.BosPrompt(n, model.Device)
                : tensor(prompt.Select(v => (long)v).ToArray(), new long[] { 1, prompt.Length }).expand(n, prompt.Length).contiguous().to(model.Device);
            int newTokens = seqLen - (int)start.shape[1];
            if (newTokens < 1) throw new SdttException("the prompt leaves no room to generate");
            var outp = ArGenerator.Generate(model, start, new ArGenerationOptions { MaxNewTokens = newTokens, Seed = seed + b, TopP = topP }).cpu();
            var flat = outp.data<long>().ToArray();
            int l = (int)outp.shape[1];
            for (int i = 0; i < n; i++) rows.Add(flat[(i * l)..((i + 1) * l)].Select(v => (int)v).ToArray());
            progress?.Invoke(n);
        }
        return rows;
    }
}
