using Sdtt.Evaluation;
using Sdtt.IO;
using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Cli.Commands;

/// <summary>The evaluated model as loaded from a folder, with its sampler when one exists.</summary>
internal sealed record LoadedModel(IDenoiser? Diffusion, IJudge? Ar, int ModelLength,
    Func<int, int, int, int, int, Action<int>?, List<int[]>>? Sampler);

/// <summary>Loads evaluated models and judges from folders.</summary>
internal static class EvalModels
{
    /// <summary>True when config.json describes a GPT-2-style AR model.</summary>
    public static bool IsAr(string dir) =>
        ModelFolder.ReadConfigJson(dir)["model_type"]?.GetValue<string>() is string t && t.Equals("gpt2", StringComparison.OrdinalIgnoreCase);

    public static LoadedModel Load(string dir, Device device)
    {
        if (IsAr(dir)) throw new SdttException($"{dir}: AR (GPT-2) models are not supported by this build of eval");
        var dit = ModelFolder.LoadDit(dir, device);
        return new LoadedModel(dit, null, dit.Config.ModelLength, null);
    }

    public static IJudge LoadJudge(string dir, Device device)
    {
        if (!IsAr(dir)) throw new SdttException($"{dir}: a judge must be a GPT-2-style AR model folder (config.json with model_type gpt2)");
        throw new SdttException($"{dir}: AR judges are not supported by this build of eval");
    }
}
