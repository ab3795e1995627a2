using Sdtt.Data;
using Sdtt.Distillation;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Tests.Distillation;

/// <summary>SDTT on the shared trainer: round transitions, round folders, and exact resume mid-round and across a round boundary.</summary>
[Collection(GlobalTorchRngCollection.Name)]
public class SdttObjectiveTests
{
    // 32 → 16 → 8 → 4 student steps in three rounds of 3 optimizer steps (9 in all).
    private static readonly SdttSchedule Schedule = new(TeacherSteps: 32, K: 2, StepsPerRound: 3, MinStudentSteps: 4, MaxRounds: 7);

    private static TrainerOptions Options(long maxSteps) => new()
    {
        Lr = 3e-3, WarmupSteps = 2, MaxSteps = maxSteps, MicroBatch = 4, GlobalBatch = 8, EvalEvery = 0, CheckpointEvery = 0,
        KeepCheckpoints = 2, ValBatches = 1, LogEvery = 1, Seed = 3, Device = "cpu", EmaDecay = 0.9,
        Threads = 1, // tiny ops: one intra-op thread avoids oversubscription on a shared CI machine (≈10× faster here)
    };

    /// <summary>Records, at every step start, the round, dt, and whether teacher == student (raw) weights.</summary>
    private sealed class Probe(SdttObjective inner) : ITrainingObjective
    {
        public List<(long Step, int Round, double Dt, bool TeacherIsStudent)> Starts { get; } = new();
        public List<long> EmaUpdates { get; } = new();
        public Dictionary<long, Dictionary<string, Tensor>> Snapshots { get; } = new();
        public string Name => inner.Name;
        public nn.Module Model => inner.Model;
        public Tensor Loss(Tensor batch, TrainingContext ctx) => inner.Loss(batch, ctx);
        public void OnStepStart(TrainingContext ctx)
        {
            inner.OnStepStart(ctx);
            Starts.Add((ctx.Step, inner.Round, inner.Dt, SameWeights(inner.Student, inner.Teacher)));
            EmaUpdates.Add(ctx.Ema.NumUpdates);
            if (ctx.Step == 3) Snapshots[3] = inner.Student.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        }
        public IReadOnlyDictionary<string, double> Validate(TokenDataset valid, TrainingContext ctx) => inner.Validate(valid, ctx);
        public void SaveState(string dir) => inner.SaveState(dir);
        public void LoadState(string dir) => inner.LoadState(dir);
        public void WriteModel(string dir, bool ema, TrainingContext ctx) => inner.WriteModel(dir, ema, ctx);
        public void Dispose() => inner.Dispose();
    }

    private static bool SameWeights(Dit a, Dit b)
    {
        var sb = b.state_dict();
        return a.state_dict().All(kv => kv.Value.EqualTo(sb[kv.Key]));
    }

    private static (TrainingResult Result, Probe Probe, SdttObjective Objective) Run(TinyDistillSetup setup, string runDir, long maxSteps, bool resume,
        SdttOptions? options = null)
    {
        var (student, teacher) = setup.Models();
        var objective = new SdttObjective(student, teacher, Schedule, options ?? new SdttOptions(), Path.Combine(runDir, "rounds"), ownsModels: true);
        var probe = new Probe(objective);
        using var train = TokenDataset.Open(setup.DataDir, "train");
        using var valid = TokenDataset.Open(setup.DataDir, "valid");
        var trainer = new Trainer(probe, Options(maxSteps), train, valid, runDir) { Plot = false };
        var result = trainer.Run(resume);
        return (result, probe, objective);
    }

    [Fact]
    public void RoundTransitionsAndExactResume()
    {
        using var setup = new TinyDistillSetup();
        // Uninterrupted.
        var full = Run(setup, Path.Combine(setup.Root, "full"), 9, false);
        Assert.Equal(9, full.Result.StepLosses.Count);
        Assert.All(full.Result.StepLosses, l => Assert.True(double.IsFinite(l) && l >= 0));
        var final = full.Objective.FinishFinalRound(full.Result.FinalStep);
        Assert.NotNull(final);

        // Rounds: steps 0–2 round 0 (dt = (1 − 1e-5)/32), 3–5 round 1, 6–8 round 2; dt doubles at each transition, and right
        // after a transition the teacher holds the raw student weights (which then move away during the round; the very first
        // step has LR factor 0 under warm-up, so the student still equals the teacher at step 1).
        var starts = full.Probe.Starts;
        Assert.Equal(Enumerable.Range(0, 9).Select(i => (long)i), starts.Select(s => s.Step));
        Assert.Equal(new[] { 0, 0, 0, 1, 1, 1, 2, 2, 2 }, starts.Select(s => s.Round));
        Assert.Equal((1 - 1e-5) / 32, starts[0].Dt);
        Assert.Equal(2 * starts[0].Dt, starts[3].Dt);
        Assert.Equal(4 * starts[0].Dt, starts[6].Dt);
        Assert.Equal(new[] { true, true, false, true, false, false, true, false, false }, starts.Select(s => s.TeacherIsStudent));

        // Round folders load and carry their step counts.
        foreach (var (name, steps, round) in new[] { ("round-1-steps-16", 16, 1), ("round-2-steps-8", 8, 2), ("round-3-steps-4", 4, 3) })
            foreach (var kind in new[] { "ema", "raw" })
            {
                var dir = Path.Combine(setup.Root, "full", "rounds", name, kind);
                using var m = ModelFolder.LoadDit(dir);
                var extra = ModelFolder.ReadConfigJson(dir)["sdtt"]!;
                Assert.Equal(steps, extra["student_steps"]!.GetValue<int>());
                Assert.Equal(round, extra["round"]!.GetValue<int>());
                Assert.Equal(2 * steps, extra["teacher_steps"]!.GetValue<int>());
                Assert.Equal(kind, extra["weights"]!.GetValue<string>());
            }
        // The raw folder of round 1 is the teacher of round 2 (the student's weights at step 3).
        using (var r1 = ModelFolder.LoadDit(Path.Combine(setup.Root, "full", "rounds", "round-1-steps-16", "raw")))
        using (var r1ema = ModelFolder.LoadDit(Path.Combine(setup.Root, "full", "rounds", "round-1-steps-16", "ema")))
            Assert.False(SameWeights(r1, r1ema));

        // Interrupted mid-round (after step 4, in round 2) and resumed.
        var midDir = Path.Combine(setup.Root, "mid");
        var a = Run(setup, midDir, 4, false);
        a.Objective.Dispose();
        var b = Run(setup, midDir, 9, true);
        b.Objective.Dispose();
        Assert.Equal(full.Result.StepLosses.Take(4), a.Result.StepLosses);
        Assert.Equal(4, b.Result.StartStep);
        Assert.Equal(full.Result.StepLosses.Skip(4), b.Result.StepLosses);
        Assert.Equal(new[] { 1, 1, 2, 2, 2 }, b.Probe.Starts.Select(s => s.Round));

        // Interrupted exactly at a round boundary (after step 6, before the transition) and resumed.
        var edgeDir = Path.Combine(setup.Root, "edge");
        var c = Run(setup, edgeDir, 6, false);
        c.Objective.Dispose();
        var d = Run(setup, edgeDir, 9, true);
        Assert.Equal(full.Result.StepLosses.Take(6), c.Result.StepLosses);
        Assert.Equal(full.Result.StepLosses.Skip(6), d.Result.StepLosses);
        Assert.Equal(new[] { true, false, false }, d.Probe.Starts.Select(s => s.TeacherIsStudent));
        Assert.True(SameWeights(full.Objective.Student, d.Objective.Student), "final student weights differ after resume");
        Assert.True(SameWeights(full.Objective.Teacher, d.Objective.Teacher), "final teacher weights differ after resume");
        d.Objective.Dispose();
        full.Objective.Dispose();
    }

    [Fact]
    public void GrowthOptionsPromoteTheEmaAndResetTheOptimizer()
    {
        using var setup = new TinyDistillSetup();
        var dir = Path.Combine(setup.Root, "ema");
        var run = Run(setup, dir, 4, false, new SdttOptions(UseEmaOnGrowth: true, ResetOptimizerOnGrowth: true));
        using var objective = run.Objective;
        // At the transition (start of step 4): the EMA restarts (0 updates), and student == teacher == the round-1 EMA weights.
        Assert.Equal(new long[] { 0, 1, 2, 0 }, run.Probe.EmaUpdates);
        Assert.True(run.Probe.Starts[3].TeacherIsStudent);
        var snap = run.Probe.Snapshots[3];
        using var ema = ModelFolder.LoadDit(Path.Combine(dir, "rounds", "round-1-steps-16", "ema"));
        using var raw = ModelFolder.LoadDit(Path.Combine(dir, "rounds", "round-1-steps-16", "raw"));
        Assert.True(ema.state_dict().All(kv => kv.Value.EqualTo(snap[kv.Key])), "student after growth != round EMA");
        Assert.False(raw.state_dict().All(kv => kv.Value.EqualTo(snap[kv.Key])), "raw and EMA weights should differ");
    }
}
