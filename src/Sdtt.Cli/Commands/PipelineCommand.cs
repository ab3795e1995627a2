using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Sdtt.Evaluation;
using Spectre.Console;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt pipeline</c>: the paper's method end to end on a text folder, as a sequence of the tool's own commands
/// (each printed, so any stage can be re-run by hand): prepare → MDLM pre-training → AR judge → SDTT distillation (with a
/// per-round judge evaluation) → samples from teacher and students → evaluation table and plot. The quality preset adds
/// an AR baseline (judged by the other AR model), a pilot that sizes the sample count, LAMBADA / multiple choice / NELBO
/// with one context length for every model, and the teacher at every student step count.</summary>
internal static class PipelineCommand
{
    /// <summary>Sizes of one pipeline run.</summary>
    /// <param name="ArBaselineSteps">0: no AR baseline; else steps of a second AR model (seed 2) that is the baseline, while
    /// the stage-3 AR model judges every model (so no model is judged by itself).</param>
    /// <param name="PilotSamples">0: <paramref name="EvalSamples"/> samples per model; else a pilot of this many teacher
    /// samples sizes the count (<see cref="SampleSizing"/>, at least <paramref name="EvalSamples"/>).</param>
    /// <param name="TaskMetrics">Also run LAMBADA, multiple choice and NELBO on each model (not per step count).</param>
    internal sealed record Preset(string TrainConfig, string DistillConfig, int SeqLen, int TrainSteps, int ArSteps,
        int TeacherSteps, int Rounds, int StepsPerRound, int EvalSamples, int ArBaselineSteps = 0, int PilotSamples = 0,
        bool TaskMetrics = false, int TaskLimit = 0, int Draws = 16, int MaxSamples = 128, double ArLr = 0, int ArWarmup = 0);

    internal static readonly Dictionary<string, Preset> Presets = new()
    {
        // CI-sized: seconds per stage.
        ["tiny"] = new("tiny", "tiny", 64, 40, 40, 32, 2, 10, 4),
        // CPU demo: a few minutes per stage on two cores.
        ["demo"] = new("demo", "demo", 128, 240, 150, 64, 3, 50, 16),
        // Results you can trust at CPU scale (docs/results.md): 56 min measured on the 2-core EPYC (docs/results.md). Teacher 64 steps → 4 rounds → students at 32, 16, 8, 4.
        ["quality"] = new("demo", "demo", 128, 800, 800, 64, 4, 60, 64, ArBaselineSteps: 800, PilotSamples: 16,
            TaskMetrics: true, TaskLimit: 64, Draws: 16,
            // The GPTs at the demo preset's lr 1e-3 tripped the divergence guard at step 30 (grad norm 213 vs 1.87 running)
            // over 800 steps; 3e-4 with a 50-step warm-up is GPT-2's own range at this batch size.
            ArLr: 3e-4, ArWarmup: 50),
    };

    public static Command Create()
    {
        var input = new Option<string>("--input") { Description = "Folder of .txt/.jsonl files", DefaultValueFactory = _ => "data/sotu" };
        var output = new Option<string>("--out") { Description = "Run folder; finished stages found there are skipped", DefaultValueFactory = _ => "runs/pipeline" };
        var preset = new Option<string>("--preset") { Description = "tiny (seconds, for CI), demo (minutes, the default) or quality (≈ 1 hour on 2 cores; docs/results.md)", DefaultValueFactory = _ => "demo" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "cpu" };
        var force = new Option<bool>("--force") { Description = "Re-run every stage (deletes nothing else in --out)" };
        var sets = new Option<string[]>("--preset-set") { Description = "Override a preset size: name=value (config=tiny|demo, train_steps, ar_steps, ar_baseline_steps, teacher_steps, rounds, steps_per_round, eval_samples, max_samples, pilot_samples, task_limit, draws, seq_len); repeatable" };
        var sampler = SamplerOptions.Sampler();
        var cmd = new Command("pipeline", "Run prepare → train → distill → sample → eval on a text folder with shipped defaults") { input, output, preset, device, force, sets, sampler };
        cmd.SetGuardedAction(parse =>
        {
            var p = Presets.GetValueOrDefault(parse.GetValue(preset)!.Trim().ToLowerInvariant())
                    ?? throw new SdttException($"unknown preset '{parse.GetValue(preset)}'; use {string.Join(", ", Presets.Keys)}");
            p = Override(p, parse.GetValue(sets) ?? Array.Empty<string>());
            var inDir = parse.GetValue(input)!;
            if (!Directory.Exists(inDir)) throw new SdttException($"{inDir}: input folder not found (run from the repository root, or pass --input DIR)");
            Sdtt.IO.OutputPath.RequireFolder(parse.GetValue(output)!);
            var samplerName = SamplerOptions.Resolve(parse.GetValue(sampler));
            return Run(inDir, parse.GetValue(output)!, p, parse.GetValue(device)!, parse.GetValue(force), samplerName);
        });
        return cmd;
    }

    /// <summary>A preset with name=value overrides applied (positive integers only).</summary>
    internal static Preset Override(Preset p, IEnumerable<string> sets)
    {
        foreach (var s in sets)
        {
            int eq = s.IndexOf('=');
            if (eq > 0 && s[..eq].Trim().Equals("config", StringComparison.OrdinalIgnoreCase))
            {
                var c = s[(eq + 1)..].Trim().ToLowerInvariant();
                if (c is not ("tiny" or "demo")) throw new SdttException($"--preset-set: config must be tiny or demo (got '{c}')");
                p = p with { TrainConfig = c, DistillConfig = c };
                continue;
            }
            if (eq <= 0 || !int.TryParse(s[(eq + 1)..], out var v) || v < 0) throw new SdttException($"--preset-set: '{s}' is not name=non-negative-integer");
            p = s[..eq].Trim().ToLowerInvariant() switch
            {
                "train_steps" => p with { TrainSteps = v }, "ar_steps" => p with { ArSteps = v }, "ar_baseline_steps" => p with { ArBaselineSteps = v },
                "teacher_steps" => p with { TeacherSteps = v }, "rounds" => p with { Rounds = v }, "steps_per_round" => p with { StepsPerRound = v },
                "eval_samples" => p with { EvalSamples = v }, "max_samples" => p with { MaxSamples = v }, "pilot_samples" => p with { PilotSamples = v }, "task_limit" => p with { TaskLimit = v },
                "draws" => p with { Draws = v }, "seq_len" => p with { SeqLen = v },
                var n => throw new SdttException($"--preset-set: unknown size '{n}'"),
            };
        }
        if (p.TrainSteps < 1 || p.ArSteps < 1 || p.Rounds < 1 || p.StepsPerRound < 1 || p.EvalSamples < 2 || p.SeqLen < 8 || p.Draws < 1)
            throw new SdttException("--preset-set: steps, rounds, eval_samples (≥ 2), draws and seq_len (≥ 8) must be positive");
        if (p.TeacherSteps >> p.Rounds < 1) throw new SdttException($"--preset-set: {p.Rounds} rounds halve {p.TeacherSteps} teacher steps below 1");
        return p;
    }

    private static int Run(string input, string outDir, Preset p, string device, bool force, string sampler)
    {
        var total = Stopwatch.StartNew();
        int? samplesPerModel = null;
        bool finished = false;
        try
        {
            samplesPerModel = RunStages(input, outDir, p, device, force, sampler);
            finished = true;
        }
        finally { RecordRun(outDir, p, samplesPerModel, total.Elapsed.TotalSeconds, finished); }
        AnsiConsole.MarkupLine($"[green]pipeline finished[/] in {Durations.Format(total.Elapsed)}; results in [bold]{Markup.Escape(outDir)}[/] " +
                               $"(eval/comparison.md, eval/genppl_vs_steps.png, samples/*.jsonl, mdlm/loss.png, sdtt/distill.png); " +
                               $"summarise with: sdtt eval results --run {Markup.Escape(outDir)} --out docs/results.md");
        return 0;
    }

    /// <summary>pipeline.json: the preset, the machine, and the wall time summed over every invocation of the run (a resumed
    /// or failed invocation still counts), so the run's cost is on record.</summary>
    private static void RecordRun(string outDir, Preset p, int? samplesPerModel, double seconds, bool finished)
    {
        if (!Directory.Exists(outDir)) return;
        var runFile = Path.Combine(outDir, "pipeline.json");
        double earlier = 0;
        try { earlier = File.Exists(runFile) ? System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(runFile))?["total_seconds"]?.GetValue<double>() ?? 0 : 0; }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException) { }
        Sdtt.IO.AtomicFile.WriteAllText(runFile, System.Text.Json.JsonSerializer.Serialize(new
        {
            preset = p, machine = MachineLine(), samples_per_model = samplesPerModel, finished,
            last_run_seconds = Math.Round(seconds, 1), total_seconds = Math.Round(earlier + seconds, 1),
        }, EvalReport.JsonOptions));
    }

    /// <summary>Every stage in order; returns the samples per model.</summary>
    private static int RunStages(string input, string outDir, Preset p, string device, bool force, string sampler)
    {
        string data = Path.Combine(outDir, "data"), mdlm = Path.Combine(outDir, "mdlm"), ar = Path.Combine(outDir, "ar");
        string arBase = Path.Combine(outDir, "ar-baseline");
        string sdtt = Path.Combine(outDir, "sdtt"), samples = Path.Combine(outDir, "samples"), eval = Path.Combine(outDir, "eval");
        Directory.CreateDirectory(outDir);
        AnsiConsole.MarkupLine($"[grey]{Markup.Escape(MachineLine())}[/]");
        int stage = 1;

        Stage(stage++, "prepare the corpus", Path.Combine(data, "manifest.json"), force, data,
            "prepare", "--input", input, "--output", data, "--seq-len", p.SeqLen.ToString());
        Stage(stage++, "pre-train the MDLM teacher", Path.Combine(mdlm, "model", "model.safetensors"), force, mdlm,
            "train", "--config", p.TrainConfig, "--data", data, "--out", mdlm, "--device", device, "--set", $"max_steps={p.TrainSteps}");
        Stage(stage++, "train the autoregressive judge", Path.Combine(ar, "model", "model.safetensors"), force, ar,
            ["train", "--model-type", "ar", "--config", p.TrainConfig, "--data", data, "--out", ar, "--device", device, "--set", $"max_steps={p.ArSteps}", .. ArSets(p)]);
        var arModel = Path.Combine(ar, "model");
        if (p.ArBaselineSteps > 0)
            Stage(stage++, "train the AR baseline (another seed; judged by the stage-3 model)", Path.Combine(arBase, "model", "model.safetensors"), force, arBase,
                ["train", "--model-type", "ar", "--config", p.TrainConfig, "--data", data, "--out", arBase, "--device", device,
                "--set", $"max_steps={p.ArBaselineSteps}", "--set", "seed=2", .. ArSets(p)]);
        // Done when every round left its student (read from disk: the folder names carry the step counts).
        var distilled = StudentRounds(sdtt).Count >= p.Rounds ? StudentRounds(sdtt)[^1].Dir : Path.Combine(sdtt, "rounds", "not-finished");
        Stage(stage++, "distill with SDTT", Path.Combine(distilled, "model.safetensors"), force, sdtt,
            "distill", "--teacher", Path.Combine(mdlm, "model"), "--data", data, "--out", sdtt, "--config", p.DistillConfig,
            "--teacher-steps", p.TeacherSteps.ToString(), "--rounds", p.Rounds.ToString(), "--steps-per-round", p.StepsPerRound.ToString(),
            "--judge", arModel, "--eval-samples", Math.Min(p.EvalSamples, 8).ToString(), "--device", device,
            "--set", $"rounds.min_student_steps={Math.Max(1, p.TeacherSteps >> p.Rounds)}");
        var students = StudentRounds(sdtt);
        if (students.Count < p.Rounds) throw new SdttException($"{sdtt}: distillation left {students.Count} of {p.Rounds} rounds; re-run the pipeline to resume it");

        Directory.CreateDirectory(samples);
        Directory.CreateDirectory(eval);
        string teacher = Path.Combine(mdlm, "model");
        int numSamples = p.EvalSamples;
        if (p.PilotSamples > 0)
        {
            var pilot = Path.Combine(eval, "pilot", $"teacher-{p.TeacherSteps}.json");
            Stage(stage++, $"pilot: {p.PilotSamples} teacher samples to size the sample count", pilot, force, null,
                "eval", "--model", teacher, "--judge", arModel, "--steps", p.TeacherSteps.ToString(), "--num-samples", p.PilotSamples.ToString(),
                "--metrics", "genppl,entropy", "--out", pilot, "--device", device, "--sampler", sampler, "--seed", "99");
            var nll = EvalReport.Read(pilot).Items?.SampleNll ?? throw new SdttException($"{pilot}: no per-sample scores");
            (numSamples, int required, double sigma) = SampleSizing.FromPilot(nll, 0.05, min: p.EvalSamples, max: Math.Max(p.EvalSamples, p.MaxSamples));
            AnsiConsole.MarkupLine($"[grey]pilot: σ(per-sample NLL) = {sigma:F3} nats → {required} samples per model resolve a ±5 % gen. perplexity margin; using {numSamples}" +
                                   (required > numSamples ? " (the time budget's cap: expect some \"undecided\" verdicts)" : "") + "[/]");
        }

        // The teacher at full steps and at every student's step count, every student at its own, the AR baseline(s).
        var models = new List<(string Name, string Dir, int? Steps, double TopP, bool Tasks)> { ("teacher", teacher, p.TeacherSteps, 1, p.TaskMetrics) };
        foreach (var (round, steps, dir) in students)
            models.Add(($"student-r{round}", dir, steps, 1, p.TaskMetrics));
        var teacherAt = p.TaskMetrics ? students.Select(s => s.Steps) : new[] { students[^1].Steps };
        foreach (var steps in teacherAt) models.Add(("teacher", teacher, steps, 1, false));
        if (p.ArBaselineSteps > 0)
        {
            models.Add(("ar-baseline", Path.Combine(arBase, "model"), null, 1, p.TaskMetrics));
            models.Add(("ar-baseline-nucleus", Path.Combine(arBase, "model"), null, 0.9, false));
        }
        // One context for LAMBADA / multiple choice: the longest every model supports (all presets share seq_len windows).
        int context = p.SeqLen;
        var reports = new List<string>();
        foreach (var (name, dir, steps, topP, tasks) in models)
        {
            var id = steps is int st ? $"{name}-{st}" : name;
            var report = Path.Combine(eval, $"{id}.json");
            bool diffusion = steps is not null;
            var args = new List<string> { "eval", "--model", dir, "--label", steps is int sl ? $"{name}@{sl}" : name, "--judge", arModel, "--num-samples", numSamples.ToString(),
                "--metrics", !tasks ? "genppl,entropy,selfbleu,distinct" : diffusion ? "genppl,entropy,selfbleu,distinct,mauve,lambada,mc,nelbo" : "genppl,entropy,selfbleu,distinct,mauve,lambada,mc",
                "--save-samples", Path.Combine(samples, $"{id}.jsonl"), "--out", report, "--device", device };
            if (steps is int s2) args.AddRange(new[] { "--steps", s2.ToString(), "--sampler", sampler });
            if (topP < 1) args.AddRange(new[] { "--top-p", topP.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            if (tasks)
                args.AddRange(new[] { "--data", $"lambada={Repo("data/lambada-sotu.jsonl")}", $"mc={Repo("data/mc-sotu.jsonl")}", diffusion ? $"nelbo={data}" : $"mauve={data}",
                    "--limit", p.TaskLimit.ToString(), "--draws", p.Draws.ToString(), "--context-tokens", context.ToString(),
                    "--nelbo-max", numSamples.ToString(), "--mauve-seeds", "5" });
            Stage(stage++, $"sample and evaluate {name}{(steps is int s3 ? $" at {s3} steps" : topP < 1 ? $" (top-p {topP})" : "")}", report, force, null, args.ToArray());
            reports.Add(report);
        }
        var compare = new List<string> { "eval", "compare", "--reports" };
        compare.AddRange(reports);
        compare.AddRange(new[] { "--out", eval, "--baseline", $"teacher@{p.TeacherSteps}" });
        Stage(stage++, "compare teacher, students and baselines", null, true, null, compare.ToArray());
        var last = students[^1];
        Stage(stage, $"a prompted sample from the last student ({last.Steps} steps)", null, true, null,
            "sample", "--model", last.Dir, "--steps", last.Steps.ToString(), "--seq-len", p.SeqLen.ToString(),
            "--prompt", "The state of the Union", "--seed", "1", "--device", device, "--sampler", sampler);
        return numSamples;
    }

    /// <summary>The distillation's round folders (round-R-steps-S/ema), read from disk rather than assumed from k.</summary>
    internal static List<(int Round, int Steps, string Dir)> StudentRounds(string sdttDir)
    {
        var rounds = Path.Combine(sdttDir, "rounds");
        if (!Directory.Exists(rounds)) return new();
        var list = new List<(int, int, string)>();
        foreach (var d in Directory.GetDirectories(rounds))
        {
            var parts = Path.GetFileName(d).Split('-');
            if (parts.Length == 4 && parts[0] == "round" && parts[2] == "steps" && int.TryParse(parts[1], out var r) && int.TryParse(parts[3], out var s)
                && File.Exists(Path.Combine(d, "ema", "model.safetensors")))
                list.Add((r, s, Path.Combine(d, "ema")));
        }
        return list.OrderBy(x => x.Item1).ToList();
    }

    /// <summary>CPU model and core count, recorded with every run (machines differ up to 3x).</summary>
    internal static string MachineLine()
    {
        string cpu = "unknown CPU";
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException) { }
        return $"{cpu}, {Environment.ProcessorCount} cores";
    }

    static string Repo(string relative) => Path.GetFullPath(relative);

    /// <summary>The last checkpoint of a train/distill stage folder, or null when it has none.</summary>
    internal static string? ResumableStage(string stageDir)
    {
        try { return new Sdtt.Training.CheckpointStore(Path.Combine(stageDir, Sdtt.Training.Trainer.CheckpointsDirName)).Last(); }
        catch (SdttException) { return null; }
    }

    /// <summary>Runs one stage through the tool's own command tree unless <paramref name="doneMarker"/> already exists.</summary>
    /// <summary>The preset's learning-rate settings of the AR models (none when it keeps the config's).</summary>
    private static string[] ArSets(Preset p) =>
        p.ArLr > 0 ? ["--set", $"lr={p.ArLr.ToString(CultureInfo.InvariantCulture)}", "--set", $"warmup_steps={p.ArWarmup}"] : [];

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
