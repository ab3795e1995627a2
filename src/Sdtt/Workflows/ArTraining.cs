using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Training;
using TorchSharp;

namespace Sdtt.Workflows;

/// <summary><c>sdtt train --model-type ar</c>: the GPT-2 baseline with the width, heads, depth, length and dropout of the
/// training config's model section (vocabulary = the diffusion vocabulary minus MASK, i.e. 50257 for GPT-2), trained by
/// <see cref="CausalLmObjective"/> with the same trainer options and token files. The run folder remembers the choice
/// (<see cref="MarkerFile"/>), so <c>--resume</c> needs no flag.</summary>
public static class ArTraining
{
    /// <summary>Written into AR run folders: the GPT config (HF GPT-2 style).</summary>
    public const string MarkerFile = "ar_model_config.json";

    /// <summary>Whether this run trains the AR baseline: --model-type ar, or a resumed AR run folder.</summary>
    public static bool IsAr(string? modelType, string outDir, bool resume)
    {
        var t = (modelType ?? "").Trim().ToLowerInvariant();
        if (t is "ar" or "gpt" or "gpt2" or "causal") return true;
        if (t is "mdlm" or "diffusion" or "dit") return false;
        if (t.Length > 0) throw new SdttException($"unknown --model-type '{modelType}'; use mdlm or ar");
        return resume && File.Exists(Path.Combine(outDir, MarkerFile));
    }

    /// <summary>The AR shape matching a diffusion config.</summary>
    public static GptConfig Config(DitConfig dit) => GptConfig.Matching(dit, vocab: dit.VocabSize - 1);

    /// <summary>A freshly initialised GPT model on <paramref name="device"/> wrapped in its objective (which owns it);
    /// records the config in the run folder (when <paramref name="writeMarker"/>: rank 0 of a data-parallel run).</summary>
    public static ITrainingObjective Objective(DitConfig dit, torch.Device device, string outDir, bool writeMarker = true)
    {
        var cfg = Config(dit);
        if (writeMarker) ModelFolder.WriteJsonAtomic(Path.Combine(outDir, MarkerFile), cfg.ToJson());
        var model = new GptModel(cfg);
        if (device.type != DeviceType.CPU) model.to(device);
        return new CausalLmObjective(model, ownsModel: true);
    }
}
