using System.Diagnostics;
using Sdtt.IO;
using Sdtt.Tests.Distillation;
using Sdtt.Tests.Training;
using Sdtt.Training;

namespace Sdtt.Tests.Reliability;

/// <summary>No dead-end run folders, kills during saves, data identity on resume, damaged checkpoint files (issue 12).</summary>
[Collection(GlobalTorchRngCollection.Name)]
public class RunFolderTests
{
    private static string[] Train(string data, string outDir, params string[] extra) => new[]
    {
        "train", "--config", "tiny", "--data", data, "--out", outDir, "--threads", "1",
        "--set", "model.vocab_size=48", "--set", "model.hidden_size=32", "--set", "model.n_heads=2", "--set", "model.n_blocks=1",
        "--set", "model.cond_dim=16", "--set", "micro_batch=4", "--set", "global_batch=4", "--set", "val_batches=1", "--set", "log_every=1",
        "--set", "eval_every=0",
    }.Concat(extra).ToArray();

    /// <summary>A run killed before its first checkpoint (config, metrics and a half-written checkpoint left) can be
    /// resumed, which starts it afresh, and a fresh run may also start there; a foreign folder is still refused.</summary>
    [Fact]
    public void ARunStoppedBeforeItsFirstCheckpointStartsAgainInPlace()
    {
        var data = TrainingFixtures.ToyData(nTrain: 16, nValid: 8);
        var root = TrainingFixtures.TempDir("deadend");
        try
        {
            foreach (var resume in new[] { true, false })
            {
                var run = Path.Combine(root, resume ? "resume" : "fresh");
                Assert.Equal(0, CliHarness.Run(Train(data, run, "--set", "max_steps=2")).Code);
                // Make it look killed after two logged steps and during its first checkpoint.
                Directory.Delete(Path.Combine(run, Trainer.CheckpointsDirName), true);
                Directory.Delete(Path.Combine(run, Trainer.ModelDirName), true);
                Directory.CreateDirectory(Path.Combine(run, Trainer.CheckpointsDirName, "step-0000002.tmp"));
                var r = resume
                    ? CliHarness.Run("train", "--resume", "--data", data, "--out", run, "--threads", "1")
                    : CliHarness.Run(Train(data, run, "--set", "max_steps=2"));
                Assert.True(r.Code == 0, r.Err);
                Assert.Contains("stopped before its first checkpoint", r.Err);
                var steps = new MetricsLog(Path.Combine(run, Trainer.MetricsFile)).Read().Where(o => o["kind"]!.GetValue<string>() == "train")
                    .Select(o => o["step"]!.GetValue<long>()).ToArray();
                Assert.Equal(new long[] { 1, 2 }, steps);
                Assert.True(File.Exists(Path.Combine(run, "model", "config.json")));
            }
            var foreign = Path.Combine(root, "foreign");
            Directory.CreateDirectory(foreign);
            File.WriteAllText(Path.Combine(foreign, "notes.txt"), "mine");
            CliHarness.AssertOneLineError(CliHarness.Run(Train(data, foreign)), "not empty");
            CliHarness.AssertOneLineError(CliHarness.Run("train", "--resume", "--data", data, "--out", foreign), "no checkpoint");
            Assert.Equal("mine", File.ReadAllText(Path.Combine(foreign, "notes.txt")));
        }
        finally
        {
            Directory.Delete(root, true);
            Directory.Delete(data, true);
        }
    }

    /// <summary>A distill rejected after validation used to leave its config behind; now nothing is written, and a distill
    /// folder holding only its config (an older version's leftover) resumes as a fresh start. The ETA is shown before step 1.</summary>
    [Fact]
    public void DistillLeavesNoFolderWhenRejectedAndShowsItsEtaFirst()
    {
        using var setup = new TinyDistillSetup();
        var run = Path.Combine(setup.Root, "run");
        string[] common =
        {
            "distill", "--teacher", setup.TeacherDir, "--data", setup.DataDir, "--out", run, "--config", "tiny", "--teacher-steps", "16",
            "--steps-per-round", "1", "--rounds", "1", "--set", "rounds.min_student_steps=2", "--set", "micro_batch=4", "--set", "global_batch=4", "--set", "eval_every=0",
            "--set", "val_batches=1", "--set", "log_every=1", "--threads", "1",
        };
        CliHarness.AssertOneLineError(CliHarness.Run(common.Concat(new[] { "--judge", setup.TeacherDir }).ToArray()), "not an autoregressive");
        Assert.False(Directory.Exists(run));
        Directory.CreateDirectory(run);
        File.WriteAllText(Path.Combine(run, "distill_config.json"), Sdtt.Distillation.DistillConfig.Load("tiny", new[] { "micro_batch=4", "global_batch=4", "rounds.teacher_steps=16", "rounds.min_student_steps=2", "rounds.steps_per_round=1", "rounds.max_rounds=1", "val_batches=1" }).ToJson().ToJsonString());
        File.WriteAllText(Path.Combine(run, "distill_run.json"), $"{{\"teacher\": \"{setup.TeacherDir}\", \"data\": \"{setup.DataDir}\"}}");
        var r = CliHarness.Run("distill", "--out", run, "--resume", "--threads", "1");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("starting it afresh", r.Err);
        int eta = r.Err.IndexOf("estimated ~", StringComparison.Ordinal), step = r.Err.IndexOf("checkpoint checkpoints/step-0000001", StringComparison.Ordinal);
        Assert.InRange(eta, 0, step);
    }

    /// <summary>Resuming on a token folder of the same shape but other content fails, unless --allow-data-change, which is
    /// logged; a truncated optimizer.bin is named.</summary>
    [Fact]
    public void ResumeChecksTheDataByContentAndNamesDamagedFiles()
    {
        var data = TrainingFixtures.ToyData(nTrain: 16, nValid: 8);
        var other = TrainingFixtures.ToyData(nTrain: 16, nValid: 8);
        var root = TrainingFixtures.TempDir("dataid");
        var run = Path.Combine(root, "run");
        try
        {
            // Same shape, other content: swap two tokens of the other folder's first sequence.
            var bin = Path.Combine(other, "train.bin");
            var bytes = File.ReadAllBytes(bin);
            (bytes[0], bytes[2]) = ((byte)(bytes[0] ^ 1), (byte)(bytes[2] ^ 1));
            File.WriteAllBytes(bin, bytes);
            Assert.Equal(0, CliHarness.Run(Train(data, run, "--set", "max_steps=2")).Code);
            var e = CliHarness.Run("train", "--resume", "--data", other, "--out", run, "--set", "max_steps=3", "--threads", "1");
            CliHarness.AssertOneLineError(e, "same shape, different content");
            var ok = CliHarness.Run("train", "--resume", "--data", other, "--out", run, "--set", "max_steps=3", "--threads", "1", "--allow-data-change");
            Assert.True(ok.Code == 0, ok.Err);
            Assert.Contains("warning: continuing on different training data", ok.Err);
            var info = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(new CheckpointStore(Path.Combine(run, "checkpoints")).Last()!, "trainer.json")))!;
            Assert.Single(info["data_changes"]!.AsArray());

            var opt = Path.Combine(new CheckpointStore(Path.Combine(run, "checkpoints")).Last()!, "optimizer.bin");
            using (var f = new FileStream(opt, FileMode.Open)) f.SetLength(f.Length / 3);
            var bad = CliHarness.Run("train", "--resume", "--data", other, "--out", run, "--set", "max_steps=4", "--threads", "1");
            CliHarness.AssertOneLineError(bad, opt + ": cannot be read, truncated or corrupt");
        }
        finally
        {
            Directory.Delete(root, true);
            Directory.Delete(data, true);
            Directory.Delete(other, true);
        }
    }

    /// <summary>A failure in the middle of writing a checkpoint or a model folder (what a kill leaves) keeps the previous
    /// state: <c>last</c> still names a complete checkpoint, the model folder is the old one or absent, never partial.</summary>
    [Fact]
    public void AFailureDuringASaveKeepsThePreviousState()
    {
        var dir = TrainingFixtures.TempDir("killsave");
        try
        {
            var store = new CheckpointStore(Path.Combine(dir, "checkpoints"));
            store.Save(1, d => File.WriteAllText(Path.Combine(d, "trainer.json"), "{}"), keep: 2);
            Assert.ThrowsAny<IOException>(() => store.Save(2, d => { File.WriteAllText(Path.Combine(d, "trainer.json"), "{"); throw new IOException("killed"); }, keep: 2));
            Assert.EndsWith("step-0000001", store.Last());
            Assert.Equal(new long[] { 1 }, store.List().Select(c => c.Step));
            store.Save(2, d => File.WriteAllText(Path.Combine(d, "trainer.json"), "{}"), keep: 2);
            Assert.EndsWith("step-0000002", store.Last());

            var model = Path.Combine(dir, "model");
            Assert.ThrowsAny<IOException>(() => AtomicDirectory.Write(model, d => { File.WriteAllText(Path.Combine(d, "model.safetensors"), "x"); throw new IOException("killed"); }));
            Assert.False(Directory.Exists(model));
            AtomicDirectory.Write(model, d => File.WriteAllText(Path.Combine(d, "config.json"), "1"));
            Assert.ThrowsAny<IOException>(() => AtomicDirectory.Write(model, d => throw new IOException("killed")));
            Assert.Equal("1", File.ReadAllText(Path.Combine(model, "config.json")));
            // A kill between the two renames leaves only the old folder aside; the next access puts it back.
            Directory.Move(model, model + AtomicDirectory.OldSuffix);
            AtomicDirectory.Recover(model);
            Assert.Equal("1", File.ReadAllText(Path.Combine(model, "config.json")));
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>Real <c>kill -9</c>s of a training process at moments when it checkpoints every step: every time, the run
    /// resumes and finishes, and the model folder is either absent or complete.</summary>
    [Fact]
    public void KillNineDuringCheckpointingAlwaysResumes()
    {
        var data = TrainingFixtures.ToyData(nTrain: 16, nValid: 8);
        var run = Path.Combine(TrainingFixtures.TempDir("kill9"), "run");
        try
        {
            var args = Train(data, run, "--set", "max_steps=150", "--set", "checkpoint_every=1");
            var delays = new[] { 150, 400 };
            for (int i = 0; i <= delays.Length; i++)
            {
                var a = i == 0 ? args : new[] { "train", "--resume", "--data", data, "--out", run, "--threads", "1" };
                var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Sdtt.Cli.dll"));
                foreach (var x in a) psi.ArgumentList.Add(x);
                psi.Environment["CI"] = "1";
                using var p = Process.Start(psi)!;
                var err = p.StandardError.ReadToEndAsync();
                _ = p.StandardOutput.ReadToEndAsync();
                if (i < delays.Length)
                {
                    var sw = Stopwatch.StartNew();
                    while (new CheckpointStore(Path.Combine(run, "checkpoints")).List().Count == 0 && sw.Elapsed.TotalSeconds < 60 && !p.HasExited) Thread.Sleep(20);
                    Thread.Sleep(delays[i]);
                    if (!p.HasExited) p.Kill();
                    Assert.True(p.WaitForExit(30_000));
                    var m = Path.Combine(run, "model");
                    Assert.True(!Directory.Exists(m) || File.Exists(Path.Combine(m, "config.json")));
                    Assert.NotNull(new CheckpointStore(Path.Combine(run, "checkpoints")).Last());
                }
                else
                {
                    Assert.True(p.WaitForExit(120_000), "resumed training timed out");
                    Assert.True(p.ExitCode == 0, err.Result);
                    Assert.Contains("resumed from", err.Result);
                }
            }
            Assert.True(File.Exists(Path.Combine(run, "model", "config.json")));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(run)!, true);
            Directory.Delete(data, true);
        }
    }
}
