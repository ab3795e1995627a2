using Sdtt.Evaluation;
using Sdtt.IO;
using Sdtt.Tests.Training;
using Sdtt.Workflows;

namespace Sdtt.Tests.Workflows;

/// <summary>The library's run objects without the CLI: pre-train → distil → evaluate → compare on a toy token folder, the
/// path every front end (the CLI, the pipeline, a .NET application) shares.</summary>
[Collection(global::Sdtt.Tests.Distillation.GlobalTorchRngCollection.Name)]
public class WorkflowJobsTests : IDisposable
{
    private readonly TempFolders _tmp = new();
    /// <summary>Removes the test's temporary folders, also when an assertion failed.</summary>
    public void Dispose() => _tmp.Dispose();

    private static readonly string[] Tiny =
    {
        "model.vocab_size=48", "model.hidden_size=32", "model.n_heads=2", "model.n_blocks=1", "model.cond_dim=16",
        "micro_batch=4", "global_batch=4", "eval_every=2", "checkpoint_every=2", "val_batches=1", "log_every=1", "threads=1",
    };

    [Fact]
    public void TrainDistillEvaluateAndCompareAsLibraryCalls()
    {
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 16, nValid: 8));
        var root = _tmp.Track(TrainingFixtures.TempDir("jobs"));
        var teacherRun = Path.Combine(root, "mdlm");

        // Refused before anything is written: an unknown override leaves no run folder behind.
        Assert.Throws<SdttException>(() => TrainingJob.Prepare(new TrainingJobOptions("tiny", [.. Tiny, "no_such_key=1"], data, teacherRun)));
        Assert.False(Directory.Exists(teacherRun));

        var notes = new List<string>();
        using (var job = TrainingJob.Prepare(new TrainingJobOptions("tiny", [.. Tiny, "max_steps=2"], data, teacherRun), note: notes.Add))
        {
            Assert.False(job.IsAutoregressive);
            Assert.Contains("mdlm", job.Summary);
            var result = job.Run();
            Assert.Equal(2, result.FinalStep);
        }
        var teacher = Path.Combine(teacherRun, "model");
        Assert.Equal(32, ModelFolder.ReadDitConfig(teacher).HiddenSize);
        // The same folder again without resume is refused with the run-folder rule's one line.
        var e = Assert.Throws<SdttException>(() => TrainingJob.Prepare(new TrainingJobOptions("tiny", Tiny, data, teacherRun)));
        Assert.Contains("--resume", e.Message);

        var sdtt = Path.Combine(root, "sdtt");
        var rounds = new List<string>();
        using (var job = DistillationJob.Prepare(new DistillationJobOptions(teacher, data, sdtt, "tiny",
                   ["rounds.teacher_steps=8", "rounds.max_rounds=1", "rounds.steps_per_round=2", "rounds.min_student_steps=1",
                    "trainer.micro_batch=4", "trainer.global_batch=4", "trainer.threads=1", "trainer.val_batches=1"])))
        {
            job.Log = rounds.Add;
            var result = job.Run();
            Assert.Single(result.RoundFolders);
            Assert.EndsWith("round-1-steps-4", result.RoundFolders[0]);
        }
        Assert.Contains(rounds, l => l.StartsWith("round 1 done"));
        var student = Path.Combine(PipelineRun.StudentRounds(sdtt)[0].Dir);

        var reports = new List<string>();
        foreach (var (dir, steps, label) in new[] { (teacher, 8, "teacher@8"), (student, 4, "student-r1@4") })
        {
            var report = EvaluationJob.Run(new EvaluationJobOptions(dir, new EvalSettings
            {
                Metrics = ["entropy", "distinct"], NumSamples = 4, SeqLen = 0, Steps = steps, BatchSize = 4, Resamples = 20,
            }) { Label = label, Device = "cpu" });
            Assert.Equal(TrainingFixtures.SeqLen, report.SeqLen);
            Assert.Equal(steps, report.Steps);
            var path = Path.Combine(root, $"{label.Replace('@', '-')}.json");
            report.Write(path);
            reports.Add(path);
        }
        var cmp = ComparisonJob.Run(reports, Path.Combine(root, "eval"), "teacher@8", new EquivalenceMargins(0.05, 0.02, 0.02), new BootstrapOptions(20, 0));
        Assert.Equal(2, cmp.Rows.Count);
        Assert.NotNull(cmp.Differences);
        Assert.True(File.Exists(Path.Combine(root, "eval", "comparison.md")));
    }
}
