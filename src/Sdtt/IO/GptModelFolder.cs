using System.Text.Json.Nodes;
using Sdtt.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.IO;

/// <summary>HF GPT-2 model folders (config.json + model.safetensors). Reads released GPT-2 checkpoints (keys with or without
/// the <c>transformer.</c> prefix, optional <c>lm_head.weight</c>, the <c>attn.bias</c>/<c>attn.masked_bias</c> buffers ignored)
/// and writes the same layout, transposing the Conv1D weights (<c>c_attn</c>, <c>c_proj</c>, <c>c_fc</c>), which HF stores
/// [in, out], to and from this model's [out, in] Linear layout.</summary>
public static class GptModelFolder
{
    /// <summary>Whether a module key names an HF Conv1D weight (stored transposed in GPT-2 checkpoints).</summary>
    public static bool IsConv1DWeight(string key) =>
        key.EndsWith(".attn.c_attn.weight") || key.EndsWith(".attn.c_proj.weight") ||
        key.EndsWith(".mlp.c_fc.weight") || key.EndsWith(".mlp.c_proj.weight");

    /// <summary>Reads the config of a folder.</summary>
    public static GptConfig ReadConfig(string dir)
    {
        if (!Directory.Exists(dir)) throw new SdttException($"{dir}: model folder not found");
        var path = Path.Combine(dir, ModelFolder.ConfigFile);
        if (!File.Exists(path)) throw new SdttException($"{dir}: no {ModelFolder.ConfigFile} (expected an HF GPT-2 model folder)");
        return GptConfig.FromJson(File.ReadAllText(path), path);
    }

    /// <summary>Whether a folder holds a GPT-2 model (config.json with model_type gpt2).</summary>
    public static bool IsGptFolder(string dir)
    {
        var path = Path.Combine(dir, ModelFolder.ConfigFile);
        if (!File.Exists(path)) return false;
        try { return JsonNode.Parse(File.ReadAllText(path))?["model_type"]?.GetValue<string>() == "gpt2"; }
        catch { return false; }
    }

    /// <summary>Loads a GPT-2 model (eval mode) from an HF-style folder onto <paramref name="device"/>.</summary>
    public static GptModel Load(string dir, Device? device = null, string weightsFile = ModelFolder.WeightsFile)
    {
        Native.TorchRuntime.EnsureLoaded();
        var cfg = ReadConfig(dir);
        var weights = Path.Combine(dir, weightsFile);
        if (!File.Exists(weights)) throw new SdttException($"{dir}: no {weightsFile}");
        var model = new GptModel(cfg);
        using (var file = new SafeTensorsFile(weights))
        {
            StateDictLoader.Load(model, file, k => NormalizeKey(k, cfg), optional: null,
                transform: (mk, t) => IsConv1DWeight(mk) ? t.t().contiguous() : t);
        }
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        model.eval();
        return model;
    }

    /// <summary>Maps a checkpoint key to a module key: strips <c>transformer.</c> and <c>_orig_mod.</c>, drops the attention
    /// mask buffers, and drops <c>lm_head.weight</c> when the head is tied (it is then a copy of <c>wte</c>).</summary>
    public static string? NormalizeKey(string key, GptConfig cfg)
    {
        key = key.Replace("_orig_mod.", "");
        if (key.StartsWith("transformer.")) key = key["transformer.".Length..];
        if (key.EndsWith(".attn.bias") || key.EndsWith(".attn.masked_bias")) return null;
        if (key == "lm_head.weight" && cfg.TieWordEmbeddings) return null;
        return key;
    }

    /// <summary>Writes config.json (HF GPT-2 style, plus <paramref name="extraConfig"/> under "sdtt") and model.safetensors,
    /// each atomically. Tied models are written as the hub's <c>gpt2</c> file (no prefix, no lm_head); untied models as
    /// GPT2LMHeadModel (<c>transformer.</c> prefix plus <c>lm_head.weight</c>). Conv1D weights are transposed back to [in, out].</summary>
    public static void Save(string dir, GptModel model, JsonObject? extraConfig = null, IReadOnlyDictionary<string, Tensor>? weightsOverride = null)
    {
        Directory.CreateDirectory(dir);
        var cfg = model.Config.ToJson();
        if (extraConfig is not null) cfg["sdtt"] = extraConfig.DeepClone();
        using var scope = NewDisposeScope();
        var sd = weightsOverride ?? model.state_dict();
        string prefix = model.Config.TieWordEmbeddings ? "" : "transformer.";
        var tensors = sd.Select(kv =>
        {
            var t = kv.Value.detach().cpu();
            if (IsConv1DWeight(kv.Key)) t = t.t().contiguous();
            string name = kv.Key == "lm_head.weight" ? kv.Key : prefix + kv.Key;
            return new KeyValuePair<string, Tensor>(name, t);
        }).ToList();
        SafeTensorsWriter.Write(Path.Combine(dir, ModelFolder.WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        ModelFolder.WriteJsonAtomic(Path.Combine(dir, ModelFolder.ConfigFile), cfg);
    }
}
