using System.Text.Json;
using System.Text.Json.Nodes;
using Sdtt.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.IO;

/// <summary>HF-style model folders (config.json + model.safetensors): what training writes and every other stage reads,
/// and the layout of the released checkpoints (kuleshov-group/mdlm-owt, jdeschena/sdtt).</summary>
public static class ModelFolder
{
    /// <summary>The weights file name.</summary>
    public const string WeightsFile = "model.safetensors";
    /// <summary>The config file name.</summary>
    public const string ConfigFile = "config.json";

    /// <summary>Reads the diffusion config of a folder.</summary>
    public static DitConfig ReadDitConfig(string dir)
    {
        var path = Path.Combine(RequireFolder(dir), ConfigFile);
        if (!File.Exists(path)) throw new SdttException($"{dir}: no {ConfigFile} (expected an HF-style model folder)");
        if (GptModelFolder.IsGptFolder(dir))
            throw new SdttException($"{dir}: an autoregressive (GPT-2) model folder, not a diffusion model; give an MDLM/SDTT folder (from `sdtt train`, `sdtt distill` or `sdtt download`)");
        return DitConfig.FromJson(File.ReadAllText(path), path);
    }

    /// <summary>Reads the raw config.json object of a folder.</summary>
    public static JsonObject ReadConfigJson(string dir)
    {
        var path = Path.Combine(RequireFolder(dir), ConfigFile);
        if (!File.Exists(path)) throw new SdttException($"{dir}: no {ConfigFile} (expected an HF-style model folder)");
        try { return JsonNode.Parse(File.ReadAllText(path))!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new SdttException($"{path}: not valid JSON ({e.Message})"); }
    }

    /// <summary>Loads a DiT from a folder, accepting the <c>backbone.</c> and <c>backbone.backbone.</c> prefixes, with or
    /// without <c>rotary_emb.inv_freq</c>. The model is returned in eval mode.</summary>
    public static Dit LoadDit(string dir, Device? device = null, string weightsFile = WeightsFile)
    {
        Native.TorchRuntime.EnsureLoaded();
        var cfg = ReadDitConfig(dir);
        var weights = Path.Combine(dir, weightsFile);
        if (!File.Exists(weights)) throw new SdttException($"{dir}: no {weightsFile}");
        var model = new Dit(cfg);
        using (var file = new SafeTensorsFile(weights))
            StateDictLoader.Load(model, file, NormalizeDitKey(file.Entries.Keys), new HashSet<string> { "rotary_emb.inv_freq" });
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        model.eval();
        return model;
    }

    /// <summary>Key mapping for the released layouts: strips <c>_orig_mod.</c> and the leading <c>backbone.</c> prefix(es).</summary>
    public static Func<string, string?> NormalizeDitKey(IEnumerable<string> keys)
    {
        var list = keys.Select(k => k.Replace("_orig_mod.", "")).ToList();
        string prefix = list.Count > 0 && list.All(k => k.StartsWith("backbone.backbone.")) ? "backbone.backbone."
            : list.Count > 0 && list.All(k => k.StartsWith("backbone.")) ? "backbone." : "";
        return k =>
        {
            k = k.Replace("_orig_mod.", "");
            return k.StartsWith(prefix) ? k[prefix.Length..] : k;
        };
    }

    /// <summary>Writes config.json and model.safetensors (keys prefixed with <c>backbone.</c> as in the released files),
    /// each atomically. <paramref name="extraConfig"/> adds fields (training step, source, …) under "sdtt".</summary>
    public static void SaveDit(string dir, Dit model, JsonObject? extraConfig = null, IReadOnlyDictionary<string, Tensor>? weightsOverride = null)
    {
        Directory.CreateDirectory(dir);
        var cfg = model.Config.ToJson();
        if (extraConfig is not null) cfg["sdtt"] = extraConfig.DeepClone();
        var sd = weightsOverride ?? model.state_dict();
        var tensors = sd.Select(kv => new KeyValuePair<string, Tensor>("backbone." + kv.Key, kv.Value));
        SafeTensorsWriter.Write(Path.Combine(dir, WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        WriteJsonAtomic(Path.Combine(dir, ConfigFile), cfg);
    }

    /// <summary>Writes JSON through a temp file and a rename.</summary>
    public static void WriteJsonAtomic(string path, JsonNode node)
    {
        AtomicFile.WriteAllText(path, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private static string RequireFolder(string dir)
    {
        if (!Directory.Exists(dir)) throw new SdttException($"{dir}: model folder not found");
        return dir;
    }
}
