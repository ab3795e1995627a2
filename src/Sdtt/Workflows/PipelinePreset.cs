namespace Sdtt.Workflows;

/// <summary>Sizes of one <see cref="PipelineRun"/>: configs, sequence length, step counts, rounds and evaluation sizes.</summary>
/// <param name="TrainConfig">The training config of the teacher and the AR models (tiny or demo).</param>
/// <param name="DistillConfig">The distillation config.</param>
/// <param name="SeqLen">Tokens per sequence of the prepared corpus and every sample.</param>
/// <param name="TrainSteps">Optimizer steps of the MDLM teacher.</param>
/// <param name="ArSteps">Optimizer steps of the AR judge.</param>
/// <param name="TeacherSteps">N0: the teacher's sampling steps (full steps).</param>
/// <param name="Rounds">SDTT rounds (each halves the student's steps).</param>
/// <param name="StepsPerRound">Optimizer steps per round.</param>
/// <param name="EvalSamples">Samples per evaluated model (the least, when a pilot sizes the count).</param>
/// <param name="ArBaselineSteps">0: no AR baseline; else steps of a second AR model (seed 2) that is the baseline, while
/// the stage-3 AR model judges every model (so no model is judged by itself).</param>
/// <param name="PilotSamples">0: <paramref name="EvalSamples"/> samples per model; else a pilot of this many teacher
/// samples sizes the count (<see cref="Evaluation.SampleSizing"/>, at least <paramref name="EvalSamples"/>).</param>
/// <param name="TaskMetrics">Also run LAMBADA, multiple choice and NELBO on each model (not per step count).</param>
/// <param name="TaskLimit">LAMBADA examples / multiple-choice items evaluated (0 = all).</param>
/// <param name="Draws">Monte-Carlo NELBO draws of the diffusion task scores.</param>
/// <param name="MaxSamples">The most samples per model a pilot may ask for.</param>
/// <param name="ArLr">0: the config's learning rate for the AR models; else this one.</param>
/// <param name="ArWarmup">Warm-up steps of the AR models when <paramref name="ArLr"/> is set.</param>
public sealed record PipelinePreset(string TrainConfig, string DistillConfig, int SeqLen, int TrainSteps, int ArSteps,
    int TeacherSteps, int Rounds, int StepsPerRound, int EvalSamples, int ArBaselineSteps = 0, int PilotSamples = 0,
    bool TaskMetrics = false, int TaskLimit = 0, int Draws = 16, int MaxSamples = 128, double ArLr = 0, int ArWarmup = 0)
{
    /// <summary>The shipped presets by name.</summary>
    public static IReadOnlyDictionary<string, PipelinePreset> Presets { get; } = new Dictionary<string, PipelinePreset>
    {
        // CI-sized: seconds per stage.
        ["tiny"] = new("tiny", "tiny", 64, 40, 40, 32, 2, 10, 4),
        // CPU demo: a few minutes per stage on two cores. Its GPT judge at the demo config's lr 1e-3 tripped the divergence
        // guard at step 30 (as the quality preset's did), so it takes the quality preset's 3e-4 with a 50-step warm-up.
        ["demo"] = new("demo", "demo", 128, 240, 150, 64, 3, 50, 16, ArLr: 3e-4, ArWarmup: 50),
        // Results you can trust at CPU scale (docs/results.md): 55–56 min measured on the 2-core EPYC. Teacher 64 steps → 4 rounds → students at 32, 16, 8, 4.
        ["quality"] = new("demo", "demo", 128, 800, 800, 64, 4, 60, 64, ArBaselineSteps: 800, PilotSamples: 16,
            TaskMetrics: true, TaskLimit: 64, Draws: 16,
            // The GPTs at the demo preset's lr 1e-3 tripped the divergence guard at step 30 (grad norm 213 vs 1.87 running)
            // over 800 steps; 3e-4 with a 50-step warm-up is GPT-2's own range at this batch size.
            ArLr: 3e-4, ArWarmup: 50),
    };

    /// <summary>The preset called <paramref name="name"/>, or a one-line error naming the shipped ones.</summary>
    public static PipelinePreset Named(string name) =>
        Presets.GetValueOrDefault(name.Trim().ToLowerInvariant())
        ?? throw new SdttException($"unknown preset '{name}'; use {string.Join(", ", Presets.Keys)}");

    /// <summary>This preset with name=value overrides applied (config=tiny|demo; sizes: non-negative integers).</summary>
    public PipelinePreset Override(IEnumerable<string> sets)
    {
        var p = this;
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
}
