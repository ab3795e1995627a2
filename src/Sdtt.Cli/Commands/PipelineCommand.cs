using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt pipeline</c>: the paper's method end to end on a text folder, as a sequence of the tool's own commands
/// (each printed, so any stage can be re-run by hand): prepare → MDLM pre-training → AR judge → SDTT distillation (with a
/// per-round judge evaluation) → samples from teacher and students → evaluation table and plot.</summary>
internal static class PipelineCommand
{
    /// <summary>Sizes of one pipeline run.</summary>
    private sealed record Preset(string TrainConfig, string DistillConfig, int SeqLen, int TrainSteps, int ArSteps,
        int TeacherSteps, int Rounds, int StepsPerRound, int EvalSamples);

    private static readonly Dictionary<string, Preset> Presets = new()
    {
        // CI-sized: seconds per stage.
        ["tiny"] = new("tiny", "tiny", 64, 40, 40, 32, 2, 10, 4),
        // CPU demo: a few minutes per stage on two cores.
        ["demo"] = new("demo", "demo", 128, 240, 150, 64, 3, 50, 16),
    };

    public static Command Create()
    {
        var input = new Option<string>("--input") { Description = "Folder of .txt/.jsonl files", DefaultValueFactory = _ => "data/sotu" };
        var output = new Option<string>("--out") { Description = "Run folder; finished stages found there are skipped", DefaultValueFactory = _ => "runs/pipeline" };
        var preset = new Option<string>("--preset") { Description = "tiny (seconds, for CI) or demo (minutes, the default)", DefaultValueFactory = _ => "demo" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "cpu" };
        var force = new Option<bool>("--force") { Description = "Re-run every stage (deletes nothing else in --out)" };
        var sampler = SamplerOptions.Sampler();
        var cmd = new Command("pipeline", "Run prepare → train → distill → sample → eval on a text folder with shipped defaults") { input, output, preset, device, force, sampler };
        cmd.SetGuardedAction(parse =>
        {
            var p = Presets.GetValueOrDefault(parse.GetValue(preset)!.Trim().ToLowerInvariant())
                    ?? throw new SdttException($"unknown preset '{parse.GetValue(preset)}'; use {string.Join(" or ", Presets.Keys)}");
            var inDir = parse.GetValue(input)!;
            if (!Directory.Exists(inDir)) throw new SdttException($"{inDir}: input folder not found (run from the repository root, or pass --input DIR)");
            Sdtt.IO.OutputPath.RequireFolder(parse.GetValue(output)!);
            var samplerName = SamplerOptions.Resolve(parse.GetValue(sampler));
            return Run(inDir, parse.GetValue(output)!, p, parse.GetValue(device)!, parse.GetValue(force), samplerName);
        });
        return cmd;
    }

    private static int Run(string input, string outDir, Preset p, string device, bool force, string sampler)
    {
        var total = Stopwatch.StartNew();
        string data = Path.Combine(outDir, "data"), mdlm = Path.Combine(outDir, "mdlm"), ar = Path.Combine(outDir, "ar");
        string sdtt = Path.Combine(outDir, "sdtt"), samples = Path.Combine(outDir, "samples"), eval = Path.Combine(outDir, "eval");
        Directory.CreateDirectory(outDir);

        Stage(1, "prepare the corpus", Path.Combine(data, "manifest.json"), force, data,
            "prepare", "--input", input, "--output", data, "--seq-len", p.SeqLen.ToString());
        Stage(2, "pre-train the MDLM teacher", Path.Combine(mdlm, "model", "model.safetensors"), force, mdlm,
            "train", "--config", p.TrainConfig, "--data", data, "--out", mdlm, "--device", device, "--set", $"max_steps={p.TrainSteps}");
        Stage(3, "train the autoregressive judge", Path.Combine(ar, "model", "model.safetensors"), force, ar,
            "train", "--model-type", "ar", "--config", p.TrainConfig, "--data", data, "--out", ar, "--device", device, "--set", $"max_steps={p.ArSteps}");
        var arModel = Path.Combine(ar, "model");
        Stage(4, "distill with SDTT", Path.Combine(sdtt, "rounds", $"round-{p.Rounds}-steps-{p.TeacherSteps >> p.Rounds}", "ema", "model.safetensors"), force, sdtt,
            "distill", "--teacher", Path.Combine(mdlm, "model"), "--data", data, "--out", sdtt, "--config", p.DistillConfig,
            "--teacher-steps", p.TeacherSteps.ToString(), "--rounds", p.Rounds.ToString(), "--steps-per-round", p.StepsPerRound.ToString(),
            "--judge", arModel, "--eval-samples", Math.Min(p.EvalSamples, 8).ToString(), "--device", device);

        // Samples and evaluation: the teacher at N0 steps and every student at its own step count.
        Directory.CreateDirectory(samples);
        Directory.CreateDirectory(eval);
        var models = new List<(string Name, string Dir, int Steps)> { ("teacher", Path.Combine(mdlm, "model"), p.TeacherSteps) };
        for (int r = 1; r <= p.Rounds; r++)
        {
            int steps = p.TeacherSteps >> r;
            models.Add(($"student-r{r}", Path.Combine(sdtt, "rounds", $"round-{r}-steps-{steps}", "ema"), steps));
        }
        // The teacher at the final student's step count shows what distillation buys.
        models.Add(("teacher-few-steps", Path.Combine(mdlm, "model"), p.TeacherSteps >> p.Rounds));
        var reports = new List<string>();
        int stage = 5;
        foreach (var (name, dir, steps) in models)
        {
            var report = Path.Combine(eval, $"{name}-{steps}.json");
            Stage(stage++, $"sample and evaluate {name} at {steps} steps", report, force, null,
                "eval", "--model", dir, "--judge", arModel, "--steps", steps.ToString(), "--num-samples", p.EvalSamples.ToString(),
                "--metrics", "genppl,entropy,selfbleu,distinct", "--save-samples", Path.Combine(samples, $"{name}-{steps}.jsonl"),
                "--out", report, "--device", device, "--sampler", sampler);
            reports.Add(report);
        }
        var compare = new List<string> { "eval", "compare", "--reports" };
        compare.AddRange(reports);
        compare.AddRange(new[] { "--out", eval });
        Stage(stage++, "compare teacher and students", null, true, null, compare.ToArray());
        var last = models[^2];
        Stage(stage, $"a prompted sample from the last student ({last.Steps} steps)", null, true, null,
            "sample", "--model", last.Dir, "--steps", last.Steps.ToString(), "--seq-len", p.SeqLen.ToString(),
            "--prompt", "The state of the Union", "--seed", "1", "--device", device, "--sampler", sampler);
        AnsiConsole.MarkupLine($"[green]pipeline finished[/] in {Durations.Format(total.Elapsed)}; results in [bold]{Markup.Escape(outDir)}[/] " +
                               $"(eval/comparison.md, eval/genppl_vs_steps.png, samples/*.jsonl, mdlm/loss.png, sdtt/distill.png)");
        return 0;
    }

    /// <summary>The last checkpoint of a train/distill stage folder, or null when it has none.</summary>
    internal static string? ResumableStage(string stageDir)
    {
        try { return new Sdtt.Training.CheckpointStore(Path.Combine(stageDir, Sdtt.Training.Trainer.CheckpointsDirName)).Last(); }
        catch (SdttException) { return null; }
    }

    /// <summary>Runs one stage through the tool's own command tree unless <paramref name="doneMarker"/> already exists.</summary>
    private static void Stage(int number, string title, string? doneMarker, bool force, string? stageDir, params string[] args)
    {
        var line = "sdtt " + string.Join(' ', args.Select(a => a.Contains(' ') ? $"\"{a}\"" : a));
        if (!force && doneMarker is not null && File.Exists(doneMarker))
        {
            AnsiConsole.MarkupLine($"[grey]stage {number}: {Markup.Escape(title)} — already done ({Markup.Escape(doneMarker)}), skipped[/]");
            return;
        }
        // An interrupted training stage continues from its last checkpoint; one that never wrote a checkpoint (or a forced
        // re-run) starts over in its own folder.
        string? resumeNote = null;
        if (stageDir is not null && !force && ResumableStage(stageDir) is { } last)
        {
            args = args.Append("--resume").ToArray();
            line += " --resume";
            resumeNote = $"resuming the interrupted stage from {Path.GetFileName(last)}";
        }
        else if (stageDir is not null && Directory.Exists(stageDir)) Directory.Delete(stageDir, recursive: true);
        AnsiConsole.MarkupLine($"[bold blue]stage {number}: {Markup.Escape(title)}[/]");
        if (resumeNote is not null) AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(resumeNote)}[/]");
        AnsiConsole.MarkupLine($"[grey]$ {Markup.Escape(line)}[/]");
        var sw = Stopwatch.StartNew();
        var root = new RootCommand();
        foreach (var c in CommandRegistry.All().Where(c => c.Name != "pipeline")) root.Subcommands.Add(c);
        int rc = root.Parse(args).Invoke();
        if (rc != 0) throw new SdttException($"stage {number} ({title}) failed with exit code {rc}; re-run it alone with: {line}");
        AnsiConsole.MarkupLine($"[grey]stage {number} done in {sw.Elapsed.TotalSeconds:F1} s[/]");
    }
}
