using System.Text.Json;
using System.Text.Json.Nodes;
using Sdtt.Configuration;
using Sdtt.Training;

namespace Sdtt.Distillation;

/// <summary>A whole distillation run in one JSON document (snake_case):
/// <c>{"trainer": {…TrainerOptions…}, "rounds": {…SdttSchedule…}, "sdtt": {…SdttOptions…}}</c>. The model shape comes
/// from the teacher folder; <c>trainer.max_steps</c> is always set to the schedule's total.</summary>
/// <param name="Trainer">Optimiser, batch, EMA, checkpoints.</param>
/// <param name="Rounds">The round schedule.</param>
/// <param name="Sdtt">Loss, grid and growth options.</param>
public sealed record DistillConfig(TrainerOptions Trainer, SdttSchedule Rounds, SdttOptions Sdtt)
{
    private static readonly string[] SectionNames = { "trainer", "rounds", "sdtt" };

    /// <summary>Names of the shipped configs.</summary>
    public static IReadOnlyList<string> PresetNames { get; } = new[] { "paper", "reference", "tiny", "demo" };

    /// <summary>A shipped config.
    /// <c>paper</c> (default): the paper's optimisation — Adam (AdamW, weight decay 0), lr 6e-5, 500 warm-up steps then
    /// constant, global batch 128, EMA 0.9999, grad clip 1, bf16, 7 rounds of 10,000 steps from a 1024-step teacher, reverse KL,
    /// the intended teacher grid.
    /// <c>reference</c>: the released code's values — lr 3e-4, 2,500 warm-up steps, and the coded teacher grid; the rest as paper.
    /// <c>tiny</c> / <c>demo</c>: CPU-sized runs (a 64/256-step teacher, short rounds, batch 8).</summary>
    public static DistillConfig Preset(string name)
    {
        var paper = new TrainerOptions
        {
            Lr = 6e-5, WarmupSteps = 500, MicroBatch = 16, GlobalBatch = 128, GradClip = 1.0, EmaDecay = 0.9999, Bf16 = true,
            Seed = 1, EvalEvery = 5000, CheckpointEvery = 1000, KeepCheckpoints = 2, ValBatches = 8, LogEvery = 50, Device = "auto",
        };
        var cfg = name.Trim().ToLowerInvariant() switch
        {
            "paper" => new DistillConfig(paper, new SdttSchedule(), new SdttOptions()),
            "reference" or "code" => new DistillConfig(paper with { Lr = 3e-4, WarmupSteps = 2500 }, new SdttSchedule(),
                new SdttOptions(Grid: TeacherGrid.Coded, Rollout: TeacherRollout.Reference)),
            "tiny" => new DistillConfig(new TrainerOptions
            {
                Lr = 1e-3, WarmupSteps = 5, MicroBatch = 8, GlobalBatch = 8, EmaDecay = 0.99, EvalEvery = 20, CheckpointEvery = 20,
                KeepCheckpoints = 2, ValBatches = 2, LogEvery = 5, Seed = 1, Device = "cpu",
            }, new SdttSchedule(TeacherSteps: 64, StepsPerRound: 20, MinStudentSteps: 8), new SdttOptions()),
            "demo" => new DistillConfig(new TrainerOptions
            {
                Lr = 3e-4, WarmupSteps = 20, MicroBatch = 8, GlobalBatch = 8, EmaDecay = 0.999, EvalEvery = 50, CheckpointEvery = 50,
                KeepCheckpoints = 2, ValBatches = 4, LogEvery = 10, Seed = 1, Device = "auto",
            }, new SdttSchedule(TeacherSteps: 256, StepsPerRound: 100, MinStudentSteps: 8), new SdttOptions()),
            _ => throw new SdttException($"unknown distillation config '{name}'; use {string.Join(", ", PresetNames)} or a JSON file"),
        };
        return cfg.Normalized();
    }

    /// <summary>max_steps = the schedule's total steps.</summary>
    public DistillConfig Normalized() => this with { Trainer = Trainer with { MaxSteps = Math.Max(1, Rounds.TotalSteps) } };

    /// <summary>A preset name or a (partial) JSON file, then <c>key=value</c> overrides (<c>trainer.lr=1e-4</c>,
    /// <c>rounds.steps_per_round=50</c>, <c>sdtt.loss=mse</c>, or a bare key found in exactly one section).</summary>
    public static DistillConfig Load(string nameOrFile, IEnumerable<string>? sets = null)
    {
        // A file may be partial: the fields it leaves out come from the paper preset.
        var (root, source) = ConfigJson.Load(nameOrFile, name => Preset(name).ToJson(), () => Preset("paper").ToJson());
        ConfigOverrides.Apply(root, sets);
        return FromJson(root, source);
    }

    /// <summary>The JSON document.</summary>
    public JsonObject ToJson() => new()
    {
        ["trainer"] = JsonSerializer.SerializeToNode(Trainer, ConfigJson.SnakeCase),
        ["rounds"] = SdttScheduleJson.ToJson(Rounds),
        ["sdtt"] = Sdtt.ToJson(),
    };

    /// <summary>Parses a full document.</summary>
    public static DistillConfig FromJson(JsonObject root, string source)
    {
        foreach (var (k, _) in root)
            if (!SectionNames.Contains(k)) throw new SdttException($"{source}: unknown key '{k}' (expected {string.Join(", ", SectionNames)})");
        TrainerOptions trainer;
        try { trainer = root["trainer"]?.Deserialize<TrainerOptions>(ConfigJson.SnakeCase) ?? new TrainerOptions(); }
        catch (JsonException e) { throw new SdttException($"{source}: bad trainer section ({e.Message.Split('\n')[0]})"); }
        var rounds = root["rounds"] is JsonObject r ? SdttScheduleJson.FromJson(r, source) : new SdttSchedule();
        var sdtt = root["sdtt"] is JsonObject s ? SdttOptions.FromJson(s, source) : new SdttOptions();
        var cfg = new DistillConfig(trainer, rounds, sdtt).Normalized();
        cfg.Trainer.Validate();
        return cfg;
    }
}
