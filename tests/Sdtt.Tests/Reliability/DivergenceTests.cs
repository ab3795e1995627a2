using Sdtt.Tests.Distillation;
using Sdtt.Tests.Training;
using Sdtt.Training;

namespace Sdtt.Tests.Reliability;

/// <summary>The divergence rule and the recovery it names (issue 12, point 2).</summary>
[Collection(GlobalTorchRngCollection.Name)]
public class DivergenceTests
{
    // Losses and gradient norms of a real tiny MDLM run (sotu, batch 8): noisy, never divergent.
    private static readonly double[] Losses = { 10.4, 9.12, 15.21, 9.94, 13.3, 10.65, 10.63, 12.06, 9.88, 8.92, 10.12, 7.05, 6.61, 5.51, 8.17, 6.8 };
    private static readonly double[] Grads = { 0.99, 0.93, 3.03, 1.14, 2.23, 1.17, 1.16, 1.79, 1.05, 1.1, 1.17, 2.32, 5.91, 2.2, 2.24, 9.57 };

    [Fact]
    public void DetectorFlagsSpikesAndNonFiniteValuesButNotNoise()
    {
        var d = new DivergenceDetector();
        for (int i = 0; i < Losses.Length; i++)
        {
            Assert.Null(d.Check(Losses[i], Grads[i]));
            d.Accept(Losses[i], Grads[i]);
        }
        Assert.Contains("loss 6.61E+11 is above 10", d.Check(6.61e11, 1));
        Assert.Contains("gradient norm", d.Check(9, 500));
        Assert.Null(d.Check(9, 90)); // 40× the level, but below 100 × max(level, 1)
        Assert.Equal("loss is NaN", d.Check(double.NaN, 1));
        Assert.Equal("gradient norm is +Inf", d.Check(9, double.PositiveInfinity));
        // The history survives a checkpoint round trip.
        Assert.Equal(d.LossLevel, DivergenceDetector.FromJson(d.ToJson()).LossLevel);
        // Near-zero losses (a student matching its teacher) may grow up to the floor before they count as divergence.
        var small = new DivergenceDetector();
        small.Accept(1e-8, 1e-8);
        Assert.Null(small.Check(0.5, 1e-6));
        Assert.NotNull(small.Check(11, 1e-6));
        // Likewise tiny gradient norms of a converged run may spike (a toy run: level 0.07, spike 26) without a stop.
        for (int i = 0; i < 10; i++) small.Accept(1e-3, 0.07);
        Assert.Null(small.Check(1e-3, 26.4));
    }

    private static string[] Train(string data, string outDir, params string[] extra) => new[]
    {
        "train", "--config", "tiny", "--data", data, "--out", outDir, "--threads", "1",
        "--set", "model.vocab_size=48", "--set", "model.hidden_size=32", "--set", "model.n_heads=2", "--set", "model.n_blocks=1",
        "--set", "model.cond_dim=16", "--set", "micro_batch=4", "--set", "global_batch=4", "--set", "val_batches=1", "--set", "log_every=1",
    }.Concat(extra).ToArray();

    private static double LastTrainLoss(string run) =>
        new MetricsLog(Path.Combine(run, Trainer.MetricsFile)).Read().Last(o => o["kind"]!.GetValue<string>() == "train")["loss"]!.GetValue<double>();

    /// <summary>The reproduction: lr 1e10 stops at step 3, names step 1 (whose weights the next step found sound),
    /// and the command in the message, at a lower lr, finishes with a finite loss. The checkpoint of step 2 — the newest
    /// written before the stop, which a NaN-only rule would have named — does not recover at that lr.</summary>
    [Fact]
    public void ReproductionNamesAHealthyCheckpointAndItsCommandRecovers()
    {
        var data = TrainingFixtures.ToyData(nTrain: 16, nValid: 8);
        var root = TrainingFixtures.TempDir("diverge");
        var run = Path.Combine(root, "N");
        try
        {
            var r = CliHarness.Run(Train(data, run, "--set", "lr=1e10", "--set", "warmup_steps=1", "--set", "checkpoint_every=1",
                "--set", "max_steps=12", "--set", "eval_every=0"));
            var line = CliHarness.AssertOneLineError(r, "training stopped at step 3: loss");
            Assert.Contains("the newest healthy checkpoint is", line);
            Assert.Contains("--resume-from 1 --set lr=0.0003", line);
            var store = new CheckpointStore(Path.Combine(run, Trainer.CheckpointsDirName));
            Assert.EndsWith("step-0000001", store.Healthy());

            // The wrong variant: continuing from the newest checkpoint (step 2) at the same lower lr diverges again.
            var copy = Path.Combine(root, "copy");
            CopyTree(run, copy);
            var bad = CliHarness.Run("train", "--data", data, "--out", copy, "--resume-from", "2", "--set", "lr=0.0003", "--threads", "1");
            CliHarness.AssertOneLineError(bad, "training stopped at step 3");

            var command = line[(line.IndexOf(": sdtt ", StringComparison.Ordinal) + ": sdtt ".Length)..].Split(' ');
            var ok = CliHarness.Run(command.Concat(new[] { "--threads", "1" }).ToArray());
            Assert.True(ok.Code == 0, ok.Err);
            Assert.Contains("discarded the later checkpoints step-0000002", ok.Err);
            Assert.True(double.IsFinite(LastTrainLoss(run)));
            Assert.InRange(LastTrainLoss(run), 0, 10);
            Assert.True(File.Exists(Path.Combine(run, "model", "config.json")));
        }
        finally
        {
            Directory.Delete(root, true);
            Directory.Delete(data, true);
        }
    }

    /// <summary>Without warm-up the first update already ruins the weights: no checkpoint is healthy, the message says to
    /// restart from step 0, and that restart in the same folder works.</summary>
    [Fact]
    public void WithNoHealthyCheckpointTheMessageRestartsInThatFolder()
    {
        var data = TrainingFixtures.ToyData(nTrain: 16, nValid: 8);
        var run = Path.Combine(TrainingFixtures.TempDir("diverge0"), "N");
        try
        {
            var r = CliHarness.Run(Train(data, run, "--set", "lr=1e10", "--set", "warmup_steps=0", "--set", "checkpoint_every=1",
                "--set", "max_steps=6", "--set", "eval_every=0"));
            var line = CliHarness.AssertOneLineError(r, "training stopped at step 2");
            Assert.Contains("no checkpoint was confirmed healthy", line);
            Assert.Contains("--resume-from 0 --set lr=0.0003", line);
            var command = line[(line.IndexOf(": sdtt ", StringComparison.Ordinal) + ": sdtt ".Length)..].Split(' ');
            var ok = CliHarness.Run(command.Concat(new[] { "--threads", "1" }).ToArray());
            Assert.True(ok.Code == 0, ok.Err);
            Assert.True(double.IsFinite(LastTrainLoss(run)));
            var steps = new MetricsLog(Path.Combine(run, Trainer.MetricsFile)).Read().Where(o => o["kind"]!.GetValue<string>() == "train")
                .Select(o => o["step"]!.GetValue<long>()).ToArray();
            Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6 }, steps);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(run)!, true);
            Directory.Delete(data, true);
        }
    }

    internal static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (var d in Directory.GetDirectories(from)) CopyTree(d, Path.Combine(to, Path.GetFileName(d)));
    }
}
