using Sdtt.Evaluation;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Workflows;

/// <summary>The evaluated model as loaded from a folder, with its samplers.</summary>
/// <param name="Diffusion">The diffusion network, or null for an AR model.</param>
/// <param name="Ar">The AR model as a scorer, or null for a diffusion model.</param>
/// <param name="ModelLength">The most positions the model handles.</param>
/// <param name="Sampler">(numSamples, seqLen, steps, seed, batch, progress) → token rows.</param>
/// <param name="PromptSampler">(prompt, numSamples, seqLen, steps, seed, batch) → token rows continuing the prompt.</param>
public sealed record LoadedModel(IDenoiser? Diffusion, IJudge? Ar, int ModelLength,
    Func<int, int, int, int, int, Action<int>?, List<int[]>> Sampler,
    Func<int[], int, int, int, int, int, List<int[]>> PromptSampler);

/// <summary>Loads evaluated models and judges from folders: GPT-2-style folders (config.json with model_type gpt2) through
/// <see cref="GptModelFolder"/>, anything else as a diffusion DiT through <see cref="ModelFolder.LoadDit"/>.</summary>
public static class EvalModels
{
    /// <summary>Loads <paramref name="dir"/> (AR or diffusion) with its sampler; <paramref name="bf16"/> keeps its linear
    /// layers in bfloat16.</summary>
    public static LoadedModel Load(string dir, Device device, double topP, string sampler, CategoricalPrecision precision, bool bf16 = false)
    {
        if (GptModelFolder.IsGptFolder(dir))
        {
            var gpt = GptModelFolder.Load(dir, device);
            if (bf16) gpt.KeepWeightsInBFloat16();
            gpt.PrepareForDecoding();
            var judge = new GptJudge(gpt);
            return new LoadedModel(null, judge, gpt.Config.NPositions,
                (n, l, _, seed, batch, p) => SampleGenerator.Autoregressive(gpt, n, l, seed, batch, topP, p),
                (prompt, n, l, _, seed, batch) => SampleGenerator.Autoregressive(gpt, n, l, seed, batch, topP, null, prompt));
        }
        var dit = ModelFolder.LoadDit(dir, device);
        if (bf16) dit.KeepWeightsInBFloat16();
        return new LoadedModel(dit, null, dit.Config.ModelLength,
            (n, l, steps, seed, batch, p) => SampleGenerator.Diffusion(dit, n, l, steps, seed, batch, sampler, precision, p),
            (prompt, n, l, steps, seed, batch) => SampleGenerator.Diffusion(dit, n, l, steps, seed, batch, sampler, precision, null, prompt));
    }

    /// <summary>Loads a GPT-2-style judge; a one-line error for any other folder.</summary>
    public static IJudge LoadJudge(string dir, Device device)
    {
        if (!GptModelFolder.IsGptFolder(dir)) throw new SdttException($"{dir}: a judge must be a GPT-2-style AR model folder (config.json with model_type gpt2)");
        return new GptJudge(GptModelFolder.Load(dir, device));
    }
}
