using System.Diagnostics;
using System.Globalization;
using Sdtt.Data;
using Sdtt.Evaluation;
using Sdtt.IO;
using Sdtt.Native;
using Sdtt.Sampling;
using Sdtt.Training;

namespace Sdtt.Workflows;

/// <summary>Where and how to run the paper's method end to end.</summary>
/// <param name="InputDir">A folder of .txt/.jsonl documents.</param>
/// <param name="OutDir">The run folder; finished stages found there are skipped, interrupted ones resume.</param>
/// <param name="Preset">The sizes.</param>
/// <param name="Device">cpu, cuda or auto.</param>
/// <param name="Force">Re-run every stage.</param>
/// <param name="Sampler">The diffusion sampler's registry name.</param>
/// <param name="TaskDataDir">The folder of lambada-sotu.jsonl and mc-sotu.jsonl (the repository's data/).</param>
public sealed record PipelineOptions(string InputDir, string OutDir, PipelinePreset Preset, string Device = "cpu", bool Force = false,
    string Sampler = SamplerRegistry.Default, string TaskDataDir = "data");

/// <summary>What a finished pipeline left.</summary>
/// <param name="SamplesPerModel">Samples drawn per evaluated model.</param>
/// <param name="Reports">Every evaluation report, in stage order.</param>
/// <param name="Elapsed">Wall time of this invocation.</param>
public sealed record PipelineResult(int SamplesPerModel, IReadOnlyList<string> Reports, TimeSpan Elapsed);

/// <summary>The paper's method end to end, as library calls: prepare → MDLM pre-training → AR judge (→ AR baseline) → SDTT
/// distillation with a per-round judge → (pilot) → samples and evaluation of the teacher at full steps and at every student
/// step count, each student, the AR baseline(s) → comparison → a prompted sample from the last student. Each stage reports
/// the <c>sdtt</c> command that runs it alone, is skipped when its output exists, and a training stage interrupted after a
/// checkpoint resumes from it. pipeline.json records the preset, the machine and the wall time summed over invocations.</summary>
public static class PipelineRun
{
    /// <summary>The run record in the run folder.</summary>
    public const string RunFile = "pipeline.json";

    /// <summary>Runs every stage; the wall time is recorded even when a stage fails.</summary>
    public static PipelineResult Run(PipelineOptions options, IPipelineHost host)
    {
        if (!Directory.Exists(options.InputDir)) throw new SdttException($"{options.InputDir}: input folder not found (run from the repository root, or pass --input DIR)");
        OutputPath.RequireFolder(options.OutDir);
        var total = Stopwatch.StartNew();
        int? samplesPerModel = null;
        bool finished = false;
        try
        {
            var (n, reports) = new Stages(options, host).Run();
            samplesPerModel = n;
            finished = true;
            return new PipelineResult(n, reports, total.Elapsed);
        }
        finally { Record(options, samplesPerModel, total.Elapsed.TotalSeconds, finished); }
    }

    /// <summary>The distillation's round folders (round-R-steps-S/ema), read from disk rather than assumed from k.</summary>
    public static IReadOnlyList<(int Round, int Steps, string Dir)> StudentRounds(string sdttDir)
    {
        var rounds = Path.Combine(sdttDir, "rounds");
        if (!Directory.Exists(rounds)) return Array.Empty<(int, int, string)>();
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
    public static string MachineLine() => $"{CpuInfo.Current.ModelName}, {Environment.ProcessorCount} cores";

    /// <summary>pipeline.json: the preset, the machine, and the wall time summed over every invocation of the run (a resumed
    /// or failed invocation still counts), so the run's cost is on record.</summary>
    private static void Record(PipelineOptions o, int? samplesPerModel, double seconds, bool finished)
    {
        if (!Directory.Exists(o.OutDir)) return;
        var runFile = Path.Combine(o.OutDir, RunFile);
        double earlier = 0;
        try { earlier = File.Exists(runFile) ? System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(runFile))?["total_seconds"]?.GetValue<double>() ?? 0 : 0; }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException) { }
        AtomicFile.WriteAllText(runFile, System.Text.Json.JsonSerializer.Serialize(new
        {
            preset = o.Preset, machine = MachineLine(), samples_per_model = samplesPerModel, finished,
            last_run_seconds = Math.Round(seconds, 1), total_seconds = Math.Round(earlier + seconds, 1),
        }, EvalReport.JsonOptions));
    }

    /// <summary>The stages of one invocation, numbered as they come.</summary>
    private sealed class Stages(PipelineOptions o, IPipelineHost host)
    {
        private readonly PipelinePreset _p = o.Preset;
        private int _number = 1;
        private string Dir(string name) => Path.Combine(o.OutDir, name);

        public (int SamplesPerModel, List<string> Reports) Run()
        {
            string data = Dir("data"), mdlm = Dir("mdlm"), ar = Dir("ar"), arBase = Dir("ar-baseline"), sdtt = Dir("sdtt");
            string samples = Dir("samples"), eval = Dir("eval");
            Directory.CreateDirectory(o.OutDir);
            host.Note(MachineLine());

            Once("prepare the corpus", $"prepare --input {Q(o.InputDir)} --output {Q(data)} --seq-len {_p.SeqLen}", Path.Combine(data, TokenDataset.ManifestFile), data,
                _ =>
                {
                    var r = CorpusPreparer.Prepare(new PrepareOptions(o.InputDir, data, _p.SeqLen));
                    host.Note($"prepared {data}: {r.Documents:N0} documents, {r.DocumentTokens:N0} tokens → {r.Train.Sequences:N0} train" +
                              $"{(r.Valid is { } v ? $" / {v.Sequences:N0} valid" : "")} sequences of {r.SeqLen}");
                });
            Train("pre-train the MDLM teacher", new TrainingJobOptions(_p.TrainConfig, [$"max_steps={_p.TrainSteps}"], data, mdlm, Device: o.Device));
            Train("train the autoregressive judge", new TrainingJobOptions(_p.TrainConfig, [$"max_steps={_p.ArSteps}", .. ArSets()], data, ar, Device: o.Device, ModelType: "ar"));
            var arModel = Path.Combine(ar, "model");
            if (_p.ArBaselineSteps > 0)
                Train("train the AR baseline (another seed; judged by the stage-3 model)",
                    new TrainingJobOptions(_p.TrainConfig, [$"max_steps={_p.ArBaselineSteps}", "seed=2", .. ArSets()], data, arBase, Device: o.Device, ModelType: "ar"));
            string teacher = Path.Combine(mdlm, "model");
            Distill(new DistillationJobOptions(teacher, data, sdtt, _p.DistillConfig,
                [$"rounds.teacher_steps={_p.TeacherSteps}", $"rounds.max_rounds={_p.Rounds}", $"rounds.steps_per_round={_p.StepsPerRound}",
                 $"rounds.min_student_steps={Math.Max(1, _p.TeacherSteps >> _p.Rounds)}"],
                Device: o.Device, Judge: arModel, EvalSamples: Math.Min(_p.EvalSamples, 8)));
            var students = StudentRounds(sdtt);
            if (students.Count < _p.Rounds) throw new SdttException($"{sdtt}: distillation left {students.Count} of {_p.Rounds} rounds; re-run the pipeline to resume it");

            Directory.CreateDirectory(samples);
            Directory.CreateDirectory(eval);
            int numSamples = _p.PilotSamples > 0 ? Pilot(teacher, arModel, Path.Combine(eval, "pilot", $"teacher-{_p.TeacherSteps}.json")) : _p.EvalSamples;

            // The teacher at full steps and at every student's step count, every student at its own, the AR baseline(s).
            var models = new List<(string Name, string Dir, int? Steps, double TopP, bool Tasks)> { ("teacher", teacher, _p.TeacherSteps, 1, _p.TaskMetrics) };
            foreach (var (round, steps, dir) in students) models.Add(($"student-r{round}", dir, steps, 1, _p.TaskMetrics));
            var teacherAt = _p.TaskMetrics ? students.Select(s => s.Steps) : new[] { students[^1].Steps };
            foreach (var steps in teacherAt) models.Add(("teacher", teacher, steps, 1, false));
            if (_p.ArBaselineSteps > 0)
            {
                models.Add(("ar-baseline", Path.Combine(arBase, "model"), null, 1, _p.TaskMetrics));
                models.Add(("ar-baseline-nucleus", Path.Combine(arBase, "model"), null, 0.9, false));
            }
            var reports = new List<string>();
            foreach (var (name, dir, steps, topP, tasks) in models)
            {
                var id = steps is int st ? $"{name}-{st}" : name;
                var report = Path.Combine(eval, $"{id}.json");
                Evaluate($"sample and evaluate {name}{(steps is int s3 ? $" at {s3} steps" : topP < 1 ? $" (top-p {topP})" : "")}", report, steps,
                    Evaluation(dir, steps is int sl ? $"{name}@{sl}" : name, arModel, numSamples, steps, topP, tasks, data, Path.Combine(samples, $"{id}.jsonl")));
                reports.Add(report);
            }
            Compare(reports, eval);
            PromptedSample(students[^1].Dir, students[^1].Steps);
            return (numSamples, reports);
        }

        /// <summary>The preset's learning-rate settings of the AR models (none when it keeps the config's).</summary>
        private string[] ArSets() =>
            _p.ArLr > 0 ? [$"lr={_p.ArLr.ToString(CultureInfo.InvariantCulture)}", $"warmup_steps={_p.ArWarmup}"] : [];

        private void Train(string title, TrainingJobOptions job)
        {
            var line = $"train{(job.ModelType is { } mt ? $" --model-type {mt}" : "")} --config {job.Config} --data {Q(job.DataDir)} --out {Q(job.OutDir)} --device {job.Device}" +
                       string.Concat(job.Sets.Select(s => $" --set {s}"));
            Once(title, line, Path.Combine(job.OutDir, "model", "model.safetensors"), job.OutDir, resume =>
            {
                using var j = TrainingJob.Prepare(job with { Resume = resume }, note: m => host.Note($"note: {m}"));
                host.Train(j);
            });
        }

        private void Distill(DistillationJobOptions job)
        {
            // Done when every round left its student (read from disk: the folder names carry the step counts).
            var rounds = StudentRounds(job.OutDir);
            var marker = rounds.Count >= _p.Rounds ? Path.Combine(rounds[^1].Dir, "model.safetensors") : Path.Combine(job.OutDir, "rounds", "not-finished");
            var line = $"distill --teacher {Q(job.Teacher!)} --data {Q(job.DataDir!)} --out {Q(job.OutDir)} --config {job.Config} --judge {Q(job.Judge!)} " +
                       $"--eval-samples {job.EvalSamples} --device {job.Device}" + string.Concat(job.Sets!.Select(s => $" --set {s}"));
            Once("distill with SDTT", line, marker, job.OutDir, resume =>
            {
                using var j = DistillationJob.Prepare(job with { Resume = resume }, note: m => host.Note($"note: {m}"));
                j.Log ??= host.Note;
                host.Distill(j);
            });
        }

        private EvaluationJobOptions Evaluation(string dir, string label, string judge, int numSamples, int? steps, double topP, bool tasks, string data, string? save)
        {
            bool diffusion = steps is not null;
            var metrics = !tasks ? "genppl,entropy,selfbleu,distinct" : diffusion ? "genppl,entropy,selfbleu,distinct,mauve,lambada,mc,nelbo" : "genppl,entropy,selfbleu,distinct,mauve,lambada,mc";
            var settings = new EvalSettings { Metrics = EvalRunner.ParseMetrics(metrics), NumSamples = numSamples, SeqLen = 0, Steps = steps ?? 128 };
            if (tasks)
                // One context for LAMBADA / multiple choice: the longest every model supports (all presets share seq_len windows).
                settings = settings with
                {
                    LambadaFile = Path.Combine(o.TaskDataDir, "lambada-sotu.jsonl"), McFile = Path.Combine(o.TaskDataDir, "mc-sotu.jsonl"),
                    NelboData = diffusion ? data : null, MauveReference = data, Limit = _p.TaskLimit, Draws = _p.Draws,
                    ContextTokens = _p.SeqLen, NelboMaxSequences = numSamples, MauveSeeds = 5,
                };
            return new EvaluationJobOptions(dir, settings) { Label = label, JudgeDir = judge, Device = o.Device, Sampler = o.Sampler, TopP = topP, SaveSamples = save };
        }

        private int Pilot(string teacher, string judge, string pilot)
        {
            var options = new EvaluationJobOptions(teacher, new EvalSettings
            {
                Metrics = ["genppl", "entropy"], NumSamples = _p.PilotSamples, Steps = _p.TeacherSteps, SeqLen = 0, Seed = 99,
            }) { JudgeDir = judge, Device = o.Device, Sampler = o.Sampler };
            Evaluate($"pilot: {_p.PilotSamples} teacher samples to size the sample count", pilot, _p.TeacherSteps, options);
            var nll = EvalReport.Read(pilot).Items?.SampleNll ?? throw new SdttException($"{pilot}: no per-sample scores");
            var (numSamples, required, sigma) = SampleSizing.FromPilot(nll, 0.05, min: _p.EvalSamples, max: Math.Max(_p.EvalSamples, _p.MaxSamples));
            host.Note($"pilot: σ(per-sample NLL) = {sigma:F3} nats → {required} samples per model resolve a ±5 % gen. perplexity margin; using {numSamples}" +
                      (required > numSamples ? " (the time budget's cap: expect some \"undecided\" verdicts)" : ""));
            return numSamples;
        }

        private void Evaluate(string title, string report, int? steps, EvaluationJobOptions job) =>
            Once(title, EvalLine(job, report, steps), report, null, _ =>
            {
                Directory.CreateDirectory(Path.GetDirectoryName(report)!);
                host.Evaluate(progress => EvaluationJob.Run(job, progress, host.Note)).Write(report);
            });

        private void Compare(List<string> reports, string eval)
        {
            var stage = new PipelineStage(_number++, "compare teacher, students and baselines",
                $"sdtt eval compare --reports {string.Join(' ', reports.Select(Q))} --out {Q(eval)} --baseline teacher@{_p.TeacherSteps}");
            host.StageStarting(stage);
            var sw = Stopwatch.StartNew();
            var result = ComparisonJob.Run(reports, eval, $"teacher@{_p.TeacherSteps}", new EquivalenceMargins(0.05, 0.02, 0.02), new BootstrapOptions(2000, 0), host.Note);
            host.Note(result.Markdown);
            host.StageFinished(stage, sw.Elapsed);
        }

        private void PromptedSample(string student, int steps)
        {
            const string prompt = "The state of the Union";
            var stage = new PipelineStage(_number++, $"a prompted sample from the last student ({steps} steps)",
                $"sdtt sample --model {Q(student)} --steps {steps} --seq-len {_p.SeqLen} --prompt {Q(prompt)} --seed 1 --device {o.Device} --sampler {o.Sampler}");
            host.StageStarting(stage);
            var sw = Stopwatch.StartNew();
            using var pipeline = DiffusionPipeline.Load(student, o.Device);
            var output = pipeline.Sample(1, steps, _p.SeqLen, prompt, new SamplingOptions { Seed = 1 }, o.Sampler);
            host.Note(output.Texts[0]);
            host.StageFinished(stage, sw.Elapsed);
        }

        /// <summary>Runs one stage unless <paramref name="doneMarker"/> exists. A training stage (<paramref name="stageDir"/>
        /// with a checkpoint) continues from its last checkpoint; one that never wrote one, or a forced re-run, starts over
        /// in an emptied folder.</summary>
        private void Once(string title, string line, string doneMarker, string? stageDir, Action<bool> run)
        {
            var stage = new PipelineStage(_number++, title, "sdtt " + line);
            if (!o.Force && File.Exists(doneMarker))
            {
                host.StageSkipped(stage, doneMarker);
                return;
            }
            bool resume = false;
            if (stageDir is not null && !o.Force && ResumableStage(stageDir) is { } last)
            {
                resume = true;
                stage = stage with { CommandLine = stage.CommandLine + " --resume", ResumeNote = $"resuming the interrupted stage from {Path.GetFileName(last)}" };
            }
            else if (stageDir is not null && Directory.Exists(stageDir)) Directory.Delete(stageDir, recursive: true);
            host.StageStarting(stage);
            var sw = Stopwatch.StartNew();
            try { run(resume); }
            catch (SdttException e) { throw new SdttException($"stage {stage.Number} ({title}) failed: {e.Message}; re-run it alone with: {stage.CommandLine}"); }
            host.StageFinished(stage, sw.Elapsed);
        }

        /// <summary>The last checkpoint of a train/distill stage folder, or null when it has none.</summary>
        private static string? ResumableStage(string stageDir)
        {
            try { return new CheckpointStore(Path.Combine(stageDir, Trainer.CheckpointsDirName)).Last(); }
            catch (SdttException) { return null; }
        }

        private static string EvalLine(EvaluationJobOptions j, string report, int? steps)
        {
            var s = j.Settings;
            var line = $"eval --model {Q(j.ModelDir)}{(j.Label is { } l ? $" --label {Q(l)}" : "")} --judge {Q(j.JudgeDir!)} --num-samples {s.NumSamples} --metrics {string.Join(',', s.Metrics)} " +
                       $"--out {Q(report)} --device {j.Device}";
            if (j.SaveSamples is { } save) line += $" --save-samples {Q(save)}";
            if (s.Seed != 0) line += $" --seed {s.Seed}";
            if (steps is int st) line += $" --steps {st} --sampler {j.Sampler}";
            if (j.TopP < 1) line += $" --top-p {j.TopP.ToString(CultureInfo.InvariantCulture)}";
            if (s.LambadaFile is not null)
                line += $" --data lambada={Q(s.LambadaFile)} mc={Q(s.McFile!)} {(s.NelboData is not null ? $"nelbo={Q(s.NelboData)}" : $"mauve={Q(s.MauveReference!)}")}" +
                        $" --limit {s.Limit} --draws {s.Draws} --context-tokens {s.ContextTokens} --nelbo-max {s.NelboMaxSequences} --mauve-seeds {s.MauveSeeds}";
            return line;
        }

        private static string Q(string a) => ShellQuote.Arg(a);
    }
}
