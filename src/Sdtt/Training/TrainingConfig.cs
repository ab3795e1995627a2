using System.Text.Json;
using System.Text.Json.Nodes;
using Sdtt.Configuration;
using Sdtt.Diffusion;
using Sdtt.Models;

namespace Sdtt.Training;

/// <summary>A whole training run in one JSON document (snake_case keys):
/// <c>{"objective": "mdlm", "model": {…DiT shape…}, "trainer": {…TrainerOptions…}, "mdlm": {…MdlmOptions…}}</c>.
/// Shipped presets: <see cref="PresetNames"/>; any field can be overridden with <see cref="ConfigOverrides.Apply(JsonObject, string)"/>
/// (<c>max_steps=60</c>, <c>model.n_blocks=2</c>, <c>trainer.lr=1e-3</c>).</summary>
/// <param name="Objective">Objective name ("mdlm").</param>
/// <param name="Model">The network shape.</param>
/// <param name="Trainer">Optimisation, schedule, checkpoints.</param>
/// <param name="Mdlm">MDLM-specific options.</param>
public sealed record TrainingConfig(string Objective, DitConfig Model, TrainerOptions Trainer, MdlmOptions Mdlm)
{

    private static readonly string[] Sections = { "model", "trainer", "mdlm" };

    /// <summary>Names of the shipped configs.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = new[] { "tiny", "demo", "small", "medium", "large" };

    /// <summary>A shipped config: <c>tiny</c> (CI, seconds), <c>demo</c> (a CPU demo of a few minutes), and the paper's
    /// <c>small</c>/<c>medium</c>/<c>large</c> (seq 1024, global batch 512, lr 3e-4, warm-up 2,500, 1M steps, EMA 0.9999, bf16).</summary>
    public static TrainingConfig Preset(string name)
    {
        var paper = new TrainerOptions
        {
            Lr = 3e-4, WarmupSteps = 2500, MaxSteps = 1_000_000, MicroBatch = 16, GlobalBatch = 512, GradClip = 1.0,
            EmaDecay = 0.9999, Bf16 = true, Seed = 1, EvalEvery = 10_000, CheckpointEvery = 10_000, KeepCheckpoints = 2,
            ValBatches = 0, LogEvery = 50, Device = "auto",
        };
        return name.Trim().ToLowerInvariant() switch
        {
            "tiny" => new TrainingConfig("mdlm", DitConfig.Tiny, new TrainerOptions
            {
                Lr = 1e-3, WarmupSteps = 10, MaxSteps = 60, MicroBatch = 8, GlobalBatch = 8, EvalEvery = 20, CheckpointEvery = 20,
                KeepCheckpoints = 2, ValBatches = 4, LogEvery = 5, Seed = 1,
            }, new MdlmOptions()),
            "demo" => new TrainingConfig("mdlm", DitConfig.Demo, new TrainerOptions
            {
                Lr = 1e-3, WarmupSteps = 20, MaxSteps = 120, MicroBatch = 8, GlobalBatch = 8, EvalEvery = 40, CheckpointEvery = 40,
                KeepCheckpoints = 2, ValBatches = 4, LogEvery = 5, Seed = 1,
            }, new MdlmOptions()),
            "small" or "sm" => new TrainingConfig("mdlm", DitConfig.Small, paper, new MdlmOptions()),
            "medium" or "md" => new TrainingConfig("mdlm", DitConfig.Medium, paper with { MicroBatch = 8 }, new MdlmOptions()),
            "large" or "lg" => new TrainingConfig("mdlm", DitConfig.Large, paper with { MicroBatch = 4 }, new MdlmOptions()),
            _ => throw new SdttException($"unknown training config '{name}'; use {string.Join(", ", PresetNames)} or a JSON file"),
        };
    }

    /// <summary>A preset name or a JSON file path.</summary>
    public static TrainingConfig Load(string nameOrFile, IEnumerable<string>? sets = null)
    {
        // A file may be partial: the fields it leaves out come from the tiny preset.
        var (root, source) = ConfigJson.Load(nameOrFile, name => Preset(name).ToJson(), () => Preset("tiny").ToJson());
        ConfigOverrides.Apply(root, sets);
        return FromJson(root, source);
    }

    /// <summary>The JSON document (snake_case).</summary>
    public JsonObject ToJson() => new()
    {
        ["objective"] = Objective,
        ["model"] = new JsonObject
        {
            ["hidden_size"] = Model.HiddenSize, ["n_heads"] = Model.NHeads, ["n_blocks"] = Model.NBlocks, ["cond_dim"] = Model.CondDim,
            ["vocab_size"] = Model.VocabSize, ["length"] = Model.ModelLength, ["dropout"] = Model.Dropout,
            ["time_conditioning"] = Model.TimeConditioning, ["adaptive"] = Model.Adaptive,
        },
        ["trainer"] = JsonSerializer.SerializeToNode(Trainer, ConfigJson.SnakeCase),
        ["mdlm"] = JsonSerializer.SerializeToNode(Mdlm, ConfigJson.SnakeCase),
    };

    /// <summary>Parses a full document, naming the bad field on error.</summary>
    public static TrainingConfig FromJson(JsonObject root, string source = "config")
    {
        foreach (var (k, _) in root)
            if (k != "objective" && !Sections.Contains(k)) throw new SdttException($"{source}: unknown key '{k}'");
        string objective = root["objective"] is JsonValue ov && ov.GetValueKind() == JsonValueKind.String ? ov.GetValue<string>() : "mdlm";
        if (objective != "mdlm") throw new SdttException($"{source}: objective '{objective}' is not trained by this config format (use \"mdlm\")");
        var m = root["model"] as JsonObject ?? throw new SdttException($"{source}: no \"model\" section");
        var known = new[] { "hidden_size", "n_heads", "n_blocks", "cond_dim", "vocab_size", "length", "dropout", "time_conditioning", "adaptive" };
        foreach (var (k, _) in m)
            if (!known.Contains(k)) throw new SdttException($"{source}: unknown key 'model.{k}' (known: {string.Join(", ", known)})");
        int I(string k, int def) => m[k] is null ? def : ConfigJson.AsInt(m[k]!, $"model.{k}", source);
        double D(string k, double def) => m[k] is null ? def : ConfigJson.AsDouble(m[k]!, $"model.{k}", source);
        bool B(string k, bool def) => m[k] is null ? def : ConfigJson.AsBool(m[k]!, $"model.{k}", source);
        var model = new DitConfig(I("hidden_size", 0), I("n_heads", 0), I("n_blocks", 0), I("cond_dim", 128), I("vocab_size", 50258),
            I("length", 1024), D("dropout", 0.1), B("time_conditioning", false), B("adaptive", true)).Validate();
        var trainer = ConfigJson.Section(root, "trainer", source, () => new TrainerOptions()).Validate();
        var mdlm = ConfigJson.Section(root, "mdlm", source, () => new MdlmOptions());
        if (mdlm.TimeEps is <= 0 or >= 1) throw new SdttException($"{source}: mdlm.sampling_eps must be in (0, 1)");
        return new TrainingConfig(objective, model, trainer, mdlm);
    }

}
