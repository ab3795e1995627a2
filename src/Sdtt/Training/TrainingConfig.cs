using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Sdtt.Diffusion;
using Sdtt.Models;

namespace Sdtt.Training;

/// <summary>A whole training run in one JSON document (snake_case keys):
/// <c>{"objective": "mdlm", "model": {…DiT shape…}, "trainer": {…TrainerOptions…}, "mdlm": {…MdlmOptions…}}</c>.
/// Shipped presets: <see cref="PresetNames"/>; any field can be overridden with <see cref="ApplySet"/>
/// (<c>max_steps=60</c>, <c>model.n_blocks=2</c>, <c>trainer.lr=1e-3</c>).</summary>
/// <param name="Objective">Objective name ("mdlm").</param>
/// <param name="Model">The network shape.</param>
/// <param name="Trainer">Optimisation, schedule, checkpoints.</param>
/// <param name="Mdlm">MDLM-specific options.</param>
public sealed record TrainingConfig(string Objective, DitConfig Model, TrainerOptions Trainer, MdlmOptions Mdlm)
{
    /// <summary>JSON settings of the trainer section (snake_case, unknown keys rejected).</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

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
        JsonObject root;
        if (File.Exists(nameOrFile) || nameOrFile.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            if (!File.Exists(nameOrFile)) throw new SdttException($"{nameOrFile}: config file not found");
            try { root = JsonNode.Parse(File.ReadAllText(nameOrFile))?.AsObject() ?? throw new SdttException($"{nameOrFile}: empty config"); }
            catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new SdttException($"{nameOrFile}: not valid JSON ({e.Message})"); }
            // Fill fields the file leaves out from the defaults, so files can be partial.
            root = Merge(Preset("tiny").ToJson(), root, nameOrFile);
        }
        else root = Preset(nameOrFile).ToJson();
        foreach (var s in sets ?? Array.Empty<string>()) ApplySet(root, s);
        return FromJson(root, File.Exists(nameOrFile) ? nameOrFile : $"config '{nameOrFile}'");
    }

    private static JsonObject Merge(JsonObject defaults, JsonObject file, string source)
    {
        foreach (var (k, v) in file)
        {
            if (!defaults.ContainsKey(k)) throw new SdttException($"{source}: unknown key '{k}' (expected objective, {string.Join(", ", Sections)})");
            if (v is JsonObject o && defaults[k] is JsonObject d)
            {
                foreach (var (k2, v2) in o)
                {
                    if (!d.ContainsKey(k2)) throw new SdttException($"{source}: unknown key '{k}.{k2}' (known: {string.Join(", ", d.Select(x => x.Key))})");
                    d[k2] = v2?.DeepClone();
                }
            }
            else defaults[k] = v?.DeepClone();
        }
        return defaults;
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
        ["trainer"] = JsonSerializer.SerializeToNode(Trainer, Json),
        ["mdlm"] = JsonSerializer.SerializeToNode(Mdlm, Json),
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
        int I(string k, int def) => m[k] is null ? def : AsInt(m[k]!, $"model.{k}", source);
        double D(string k, double def) => m[k] is null ? def : AsDouble(m[k]!, $"model.{k}", source);
        bool B(string k, bool def) => m[k] is null ? def : AsBool(m[k]!, $"model.{k}", source);
        var model = new DitConfig(I("hidden_size", 0), I("n_heads", 0), I("n_blocks", 0), I("cond_dim", 128), I("vocab_size", 50258),
            I("length", 1024), D("dropout", 0.1), B("time_conditioning", false), B("adaptive", true)).Validate();
        var trainer = Section(root, "trainer", source, () => new TrainerOptions()).Validate();
        var mdlm = Section(root, "mdlm", source, () => new MdlmOptions());
        if (mdlm.SamplingEps is <= 0 or >= 1) throw new SdttException($"{source}: mdlm.sampling_eps must be in (0, 1)");
        return new TrainingConfig(objective, model, trainer, mdlm);
    }

    private static T Section<T>(JsonObject root, string name, string source, Func<T> empty)
    {
        if (root[name] is null) return empty();
        try { return root[name].Deserialize<T>(Json) ?? empty(); }
        catch (JsonException e)
        {
            var path = e.Path is { Length: > 2 } p ? $"{name}.{p[2..]}" : name;
            throw new SdttException($"{source}: bad value for {path} ({e.Message.Split(". Path")[0].Split('\n')[0]})");
        }
    }

    /// <summary>Applies one <c>key=value</c> override to a config document. The key is a dotted path
    /// (<c>model.n_blocks</c>) or a bare field name found in exactly one section (<c>max_steps</c>); the value must have the
    /// field's type (number, true/false, or text). Unknown keys are an error listing close names.</summary>
    public static void ApplySet(JsonObject root, string assignment)
    {
        int eq = assignment.IndexOf('=');
        if (eq <= 0) throw new SdttException($"--set '{assignment}': expected key=value");
        string key = assignment[..eq].Trim(), raw = assignment[(eq + 1)..].Trim();
        var parts = key.Split('.');
        JsonObject parent;
        string field;
        if (parts.Length == 1)
        {
            if (root.ContainsKey(key) && root[key] is not JsonObject) { parent = root; field = key; }
            else
            {
                var hits = Sections.Where(s => root[s] is JsonObject o && o.ContainsKey(key)).ToList();
                if (hits.Count == 0) throw new SdttException($"--set {key}: unknown key{Suggest(root, key)}");
                if (hits.Count > 1) throw new SdttException($"--set {key}: ambiguous, use one of {string.Join(", ", hits.Select(h => h + "." + key))}");
                parent = (JsonObject)root[hits[0]]!;
                field = key;
            }
        }
        else if (parts.Length == 2 && root[parts[0]] is JsonObject sec && sec.ContainsKey(parts[1])) { parent = sec; field = parts[1]; }
        else throw new SdttException($"--set {key}: unknown key{Suggest(root, parts[^1])}");

        var old = parent[field];
        JsonNode? value = old?.GetValueKind() switch
        {
            JsonValueKind.Number => double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
                ? (Math.Abs(d) < 1e15 && d == Math.Floor(d) && !raw.Contains('.') && !raw.Contains('e') && !raw.Contains('E') ? JsonValue.Create((long)d) : JsonValue.Create(d))
                : throw new SdttException($"--set {key}={raw}: expected a number"),
            JsonValueKind.True or JsonValueKind.False => bool.TryParse(raw, out var b) ? JsonValue.Create(b)
                : throw new SdttException($"--set {key}={raw}: expected true or false"),
            JsonValueKind.String => JsonValue.Create(raw),
            _ => throw new SdttException($"--set {key}: cannot override a {old?.GetValueKind().ToString().ToLowerInvariant() ?? "null"} field"),
        };
        parent[field] = value;
    }

    private static string Suggest(JsonObject root, string key)
    {
        var all = new List<string>();
        foreach (var (k, v) in root)
        {
            if (v is JsonObject o) all.AddRange(o.Select(x => $"{k}.{x.Key}"));
            else all.Add(k);
        }
        string Leaf(string a) => a.Split('.')[^1];
        var close = all.Where(a => Distance(Leaf(a), key) <= Math.Max(1, key.Length / 4)
            || Leaf(a).Contains(key, StringComparison.OrdinalIgnoreCase) || key.Contains(Leaf(a), StringComparison.OrdinalIgnoreCase)).Take(5).ToList();
        return close.Count > 0 ? $" (did you mean {string.Join(", ", close)}?)" : $" (known keys: {string.Join(", ", all)})";
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1));
        return d[a.Length, b.Length];
    }

    private static double? Number(JsonNode n) =>
        n is JsonValue v && v.GetValueKind() == JsonValueKind.Number
            ? double.Parse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture) : null;

    private static int AsInt(JsonNode n, string field, string source) =>
        Number(n) is { } d && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue ? (int)d
            : throw new SdttException($"{source}: {field} must be an integer (got {n.ToJsonString()})");

    private static double AsDouble(JsonNode n, string field, string source) =>
        Number(n) is { } d ? d
            : throw new SdttException($"{source}: {field} must be a number (got {n.ToJsonString()})");

    private static bool AsBool(JsonNode n, string field, string source) =>
        n is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? v.GetValue<bool>()
            : throw new SdttException($"{source}: {field} must be true or false (got {n.ToJsonString()})");
}
