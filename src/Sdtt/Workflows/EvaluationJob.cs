using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.Evaluation;
using Sdtt.IO;
using Sdtt.Native;
using Sdtt.Sampling;

namespace Sdtt.Workflows;

/// <summary>One model to evaluate: the inputs of <c>sdtt eval</c> as a record. <see cref="Settings"/> carries the metrics
/// and their sizes; <see cref="EvalSettings.SeqLen"/> 0 means the model's length (at most 1024).</summary>
/// <param name="ModelDir">A diffusion or GPT-2-style model folder.</param>
/// <param name="Settings">Metrics, sample count, step count, seeds, data files and interval settings.</param>
public sealed record EvaluationJobOptions(string ModelDir, EvalSettings Settings)
{
    /// <summary>The AR judge folder (gen. perplexity, MAUVE features).</summary>
    public string? JudgeDir { get; init; }
    /// <summary>cpu, cuda or auto.</summary>
    public string Device { get; init; } = "auto";
    /// <summary>Nucleus threshold of AR sampling (1 = off).</summary>
    public double TopP { get; init; } = 1;
    /// <summary>The diffusion sampler's registry name.</summary>
    public string Sampler { get; init; } = SamplerRegistry.Default;
    /// <summary>Precision of the reference samplers' categorical draw.</summary>
    public CategoricalPrecision Precision { get; init; } = CategoricalPrecision.Float64;
    /// <summary>Keep the evaluated model's linear layers in bfloat16 (the judge stays float32).</summary>
    public bool Bf16 { get; init; }
    /// <summary>The label in tables and plots (default: folder name@steps; "-bf16" appended with <see cref="Bf16"/>).</summary>
    public string? Label { get; init; }
    /// <summary>Pre-generated samples (JSONL) instead of sampling.</summary>
    public string? SamplesPath { get; init; }
    /// <summary>Most pre-generated samples to read (0 = all).</summary>
    public int SamplesLimit { get; init; }
    /// <summary>Write the generated samples here (JSONL).</summary>
    public string? SaveSamples { get; init; }
    /// <summary>The metric list said "all": drop, with a note, the metrics whose inputs are missing.</summary>
    public bool DropUnavailable { get; init; }
}

/// <summary>Evaluates one model: loads it and the judge, resolves the sample length, samples (or reads samples) and runs
/// <see cref="EvalRunner"/>. The one path of <c>sdtt eval</c> and the pipeline's evaluation stages.</summary>
public static class EvaluationJob
{
    /// <summary>The report of <paramref name="options"/>; <paramref name="progress"/> makes a tick callback per labelled
    /// stage, <paramref name="log"/> receives notes.</summary>
    public static EvalReport Run(EvaluationJobOptions options, Func<string, long, Action<int>>? progress = null, Action<string>? log = null)
    {
        var s = options.Settings;
        foreach (var (name, v) in new[] { ("--steps", s.Steps ?? 1), ("--num-samples", s.NumSamples), ("--batch-size", s.BatchSize), ("--draws", s.Draws) })
            if (v < 1) throw new SdttException($"{name} must be ≥ 1");
        if (s.Steps > SamplingLimits.MaxSteps) throw new SdttException($"--steps must be in 1..{SamplingLimits.MaxSteps:N0}");
        if (s.NumSamples > SamplingLimits.MaxNumSamples) throw new SdttException($"--num-samples must be in 1..{SamplingLimits.MaxNumSamples:N0}");
        if (!(options.TopP > 0 && options.TopP <= 1)) throw new SdttException("--top-p must be in (0, 1]");
        if (s.Resamples < 10) throw new SdttException("--resamples must be ≥ 10");
        if (s.ContextTokens < 0) throw new SdttException("--context-tokens must be ≥ 0");
        if (options.SaveSamples is { } savePath) OutputPath.RequireFile(savePath, "--save-samples");
        TorchRuntime.EnsureLoaded();
        var dev = TorchRuntime.ResolveDevice(options.Device);
        var loaded = EvalModels.Load(options.ModelDir, dev, options.TopP, options.Sampler, options.Precision, options.Bf16);
        var judge = options.JudgeDir is { } judgeDir ? EvalModels.LoadJudge(judgeDir, dev) : null;
        int len = s.SeqLen > 0 ? s.SeqLen : Math.Min(1024, loaded.ModelLength);
        if (len < 2) throw new SdttException("--seq-len must be ≥ 2");
        if (len > loaded.ModelLength) throw new SdttException($"--seq-len {len} is above the model's length {loaded.ModelLength}; use at most {loaded.ModelLength}");
        var given = options.SamplesPath is { } samplesPath ? SampleFile.Read(samplesPath, options.SamplesLimit) : null;
        int steps = s.Steps ?? 128;
        var sampler = new Func<int, int, int, Action<int>?, List<int[]>>((n, l, seed, p) =>
        {
            var rows = loaded.Sampler(n, l, steps, seed, s.BatchSize, p);
            if (options.SaveSamples is { } save) SampleFile.Write(save, rows);
            return rows;
        });
        var metrics = s.Metrics.ToList();
        if (options.DropUnavailable)
        {
            var skipped = new List<string>();
            void Drop(string m, bool cond, string why) { if (cond && metrics.Remove(m)) skipped.Add($"{m} ({why})"); }
            Drop("genppl", judge is null, "no --judge");
            Drop("mauve", judge is null || s.MauveReference is null, judge is null ? "no --judge" : "no reference texts");
            Drop("lambada", s.LambadaFile is null, "no lambada= data");
            Drop("mc", s.McFile is null, "no mc= data");
            Drop("nelbo", loaded.Diffusion is null || s.NelboData is null, loaded.Diffusion is null ? "AR model" : "no nelbo= data");
            if (skipped.Count > 0) log?.Invoke($"all: skipping {string.Join(", ", skipped)}");
        }
        var settings = s with { Metrics = metrics, SeqLen = len, Steps = loaded.Diffusion is not null ? steps : null };
        var label = options.Label ?? (options.Bf16 ? Path.GetFileName(Path.TrimEndingDirectorySeparator(options.ModelDir)) + "-bf16" : null);
        return EvalRunner.Run(new EvalInputs
        {
            ModelPath = options.ModelDir, Label = label, ModelLength = loaded.ModelLength, Diffusion = loaded.Diffusion, Ar = loaded.Ar,
            Judge = judge, JudgePath = options.JudgeDir, Samples = given, SamplesPath = options.SamplesPath, Sampler = sampler,
            Device = dev.ToString(), Progress = progress,
            PromptSampler = (prompt, n, l, seed) => loaded.PromptSampler(prompt, n, l, steps, seed, s.BatchSize),
            Log = log,
        }, settings);
    }

    /// <summary>Evaluation data given as kind=PATH (lambada=, mc=, nelbo=, mauve=) or plain paths whose kind is inferred
    /// (a token folder is nelbo; JSONL with choices/endings is mc, with text is lambada).</summary>
    public static Dictionary<string, string> ParseData(IEnumerable<string> items)
    {
        var d = new Dictionary<string, string>();
        foreach (var item in items)
        {
            string key, path;
            int eq = item.IndexOf('=');
            if (eq > 0 && new[] { "lambada", "mc", "nelbo", "mauve" }.Contains(item[..eq].ToLowerInvariant()))
            { key = item[..eq].ToLowerInvariant(); path = item[(eq + 1)..]; }
            else { path = item; key = InferKind(path); }
            if (!File.Exists(path) && !Directory.Exists(path)) throw new SdttException($"--data: {path} not found");
            if (d.ContainsKey(key)) throw new SdttException($"--data: two {key} inputs");
            d[key] = path;
        }
        return d;
    }

    private static string InferKind(string path)
    {
        if (Directory.Exists(path))
            return File.Exists(Path.Combine(path, TokenDataset.ManifestFile)) ? "nelbo" : throw new SdttException($"--data: {path} is a folder without {TokenDataset.ManifestFile}");
        if (!File.Exists(path)) throw new SdttException($"--data: {path} not found");
        var first = File.ReadLines(path).FirstOrDefault(l => !string.IsNullOrWhiteSpace(l)) ?? throw new SdttException($"--data: {path} is empty");
        JsonObject? o;
        try { o = JsonNode.Parse(first) as JsonObject; } catch (System.Text.Json.JsonException) { o = null; }
        if (o is null) throw new SdttException($"--data: {path} is not JSONL; name its kind (lambada=, mc=, nelbo=, mauve=)");
        if (o.ContainsKey("choices") || o.ContainsKey("endings")) return "mc";
        if (o.ContainsKey("text")) return "lambada";
        throw new SdttException($"--data: cannot tell what {path} is; name its kind (lambada=, mc=, mauve=)");
    }
}
