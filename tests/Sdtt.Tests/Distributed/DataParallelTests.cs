using Sdtt.Distributed;
using Sdtt.IO;
using Sdtt.Tests.Distillation;
using Sdtt.Tests.Training;
using Sdtt.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Tests.Distributed;

/// <summary>A fact that runs only where Open MPI's mpirun is installed (CI installs it in .ci/run).</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (MpiRunner.SkipReason is { } why) Skip = why;
    }
}

/// <summary>Data-parallel training: the plan and buckets in one process, and 2-rank <c>mpirun</c> runs of the built CLI
/// against single-process runs with the same global batch (2 ranks × A micro-batches vs 1 process × 2A).</summary>
[Collection(GlobalTorchRngCollection.Name)]
public class DataParallelTests : IDisposable
{
    private readonly TempFolders _tmp = new();
    /// <summary>Removes the test's temporary folders, also when an assertion failed.</summary>
    public void Dispose() => _tmp.Dispose();

    // Tolerances: float32 gradients summed in another order differ by rounding (~1e-7 relative); after a few Adam steps the
    // losses may drift by a few float32 ulps of the weights.
    private const double GradAbsTol = 1e-6, GradRelTol = 1e-5, LossTol = 1e-4;

    private static readonly string[] TinyModel =
    {
        "--config", "tiny", "--threads", "1", "--set", "model.vocab_size=48", "--set", "model.hidden_size=32", "--set", "model.n_heads=2",
        "--set", "model.n_blocks=1", "--set", "model.cond_dim=16", "--set", "micro_batch=4", "--set", "global_batch=8",
        "--set", "log_every=1", "--set", "val_batches=1", "--set", "eval_every=0",
    };

    [Fact]
    public void PlanSplitsTheGlobalBatchIntoContiguousSharesAndRefusesUnevenSplits()
    {
        var plans = Enumerable.Range(0, 3).Select(r => new DataParallelPlan(r, 3, 6)).ToList();
        for (int g = 0; g < 6; g++) Assert.Single(plans, p => p.Owns(g));
        Assert.Equal(new[] { 0, 2, 4 }, plans.Select(p => p.FirstMicroBatch));
        Assert.True(plans[1].Owns(2) && plans[1].Owns(3) && !plans[1].Owns(4));
        var e = Assert.Throws<SdttException>(() => DataParallelPlan.For(new FakeWorld(2), globalBatch: 12, microBatch: 4));
        Assert.Contains("global_batch 12", e.Message);
        Assert.Contains("multiple of micro_batch × ranks = 8", e.Message);
        Assert.Equal(4, DataParallelPlan.For(new FakeWorld(2), 32, 4).LocalMicroBatches);
    }

    [Fact]
    public void MicroBatchSeedsDependOnSeedStepAndIndexOnly()
    {
        var seeds = new HashSet<long>();
        for (long seed = 1; seed <= 2; seed++)
            for (long step = 0; step < 4; step++)
                for (int g = 0; g < 4; g++)
                {
                    long s = DataParallelPlan.NoiseSeed(seed, step, g);
                    Assert.Equal(s, DataParallelPlan.NoiseSeed(seed, step, g));
                    Assert.True(s >= 0);
                    Assert.True(seeds.Add(s));
                    Assert.True(seeds.Add(DataParallelPlan.DropoutSeed(seed, step, g)));
                }
    }

    [Fact]
    public void BucketsCoverEveryGradientOnce()
    {
        // A fake world of two identical ranks: the all-reduce doubles every value. Small buckets force several of them.
        torch.random.manual_seed(1);
        using var model = TrainingFixtures.NewModel();
        var ps = model.parameters().ToList();
        foreach (var p in ps) p.grad = randn_like(p);
        var before = ps.Select(p => p.grad!.clone()).ToList();
        using var reducer = new GradientAllReducer(new FakeWorld(2), ps, bucketBytes: 4096);
        Assert.True(reducer.Buckets > 3, $"{reducer.Buckets} buckets");
        Assert.Equal(ps.Sum(p => p.numel()) * 4, reducer.BytesPerStep);
        reducer.AllReduce();
        for (int i = 0; i < ps.Count; i++) Assert.True(ps[i].grad!.allclose(before[i] * 2), ps[i].ToString());
        foreach (var t in before) t.Dispose();
    }

    [Fact]
    public void MissingMpiLibraryIsAOneLineError()
    {
        // Pretend mpirun started a 2-rank job, and point the binding at a library that does not exist.
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 16, nValid: 8));
        var outDir = Path.Combine(_tmp.Track(TrainingFixtures.TempDir("dp-nolib")), "run");
        var (code, _, err) = MpiRunner.SdttWithEnvironment(new() { ["OMPI_COMM_WORLD_SIZE"] = "2", ["SDTT_MPI_LIBRARY"] = "/nonexistent/libmpi.so.40" },
            new[] { "train", "--data", data, "--out", outDir }.Concat(TinyModel).ToArray());
        Assert.Equal(1, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("error: mpirun started this process, but the Open MPI library /nonexistent/libmpi.so.40 could not be loaded", err.Trim());
        Assert.False(Directory.Exists(outDir));
    }

    [MpiFact]
    public void TwoRankTrainingMatchesOneProcessInGradientsAndLossesAndResumesFromRankZerosCheckpoint()
    {
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 16, nValid: 8));
        var root = _tmp.Track(TrainingFixtures.TempDir("dp-train"));
        string two = Path.Combine(root, "two"), one = Path.Combine(root, "one");
        string[] Args(string dir, int steps) => new[]
        {
            "train", "--data", data, "--out", dir, "--dump-gradients", dir + ".grad.safetensors", "--set", $"max_steps={steps}",
            "--set", "lr=1e-2", "--set", "warmup_steps=0", "--set", "checkpoint_every=3",
        }.Concat(TinyModel).ToArray();
        // 2 ranks × 1 micro-batch of 4 against 1 process × 2 micro-batches of 4 (global batch 8, same seeds).
        var (code, _, err) = MpiRunner.Sdtt(2, Args(two, 3));
        Assert.True(code == 0, err);
        Assert.DoesNotContain("rank 1", err);
        (code, _, err) = MpiRunner.Sdtt(0, Args(one, 6));
        Assert.True(code == 0, err);

        // The raw gradient of step 1, summed over ranks, before clipping and before any optimizer step (Adam would hide a
        // missing 1/N; here it shows as a factor of 2).
        using (var g2 = new SafeTensorsFile(two + ".grad.safetensors"))
        using (var g1 = new SafeTensorsFile(one + ".grad.safetensors"))
        {
            Assert.Equal(g1.Entries.Keys.Order(), g2.Entries.Keys.Order());
            double norm = 0;
            foreach (var k in g1.Entries.Keys)
            {
                using var a = g2.Load(k);
                using var b = g1.Load(k);
                norm += b.square().sum().item<float>();
                Assert.True(a.allclose(b, rtol: GradRelTol, atol: GradAbsTol), $"{k}: max |diff| {(a - b).abs().max().item<float>()}");
            }
            Assert.True(norm > 1e-2, $"gradient norm² {norm}: too small for the comparison to mean anything");
        }

        // A checkpoint of 2 ranks does not resume in one process.
        (code, _, err) = MpiRunner.Sdtt(0, "train", "--resume", "--data", data, "--out", two, "--set", "max_steps=6");
        Assert.Equal(1, code);
        Assert.Contains("written by a run of 2 rank(s), this run has 1", err);
        // It resumes on 2 ranks and continues the same trajectory.
        (code, _, err) = MpiRunner.Sdtt(2, "train", "--resume", "--data", data, "--out", two, "--set", "max_steps=6");
        Assert.True(code == 0, err);
        Assert.Contains("resumed from step-0000003", err);

        var l2 = TrainLosses(two);
        var l1 = TrainLosses(one);
        Assert.Equal(6, l1.Count);
        Assert.Equal(6, l2.Count);
        for (int i = 0; i < 6; i++) Assert.True(Math.Abs(l1[i] - l2[i]) <= LossTol, $"step {i + 1}: 2 ranks {l2[i]}, 1 process {l1[i]}");
        Assert.True(l2.Skip(4).Average() < l2.Take(2).Average() - 0.3, $"losses do not fall: {string.Join(", ", l2)}");
        // Rank 0 alone wrote: one metrics line per step, the model folder, and the all-reduce volume (24,400 float32 per step).
        var rec = new MetricsLog(Path.Combine(two, Trainer.MetricsFile)).Read().First(o => o["kind"]!.GetValue<string>() == "train");
        Assert.Equal(24_400 * 4 / 1e6, rec["allreduce_mb"]!.GetValue<double>(), 9);
        Assert.True(File.Exists(Path.Combine(two, "model", ModelFolder.WeightsFile)));
    }

    [MpiFact]
    public void TwoRankDistillationMatchesOneProcess()
    {
        using var setup = new TinyDistillSetup();
        string[] Args(string name) => new[]
        {
            "distill", "--teacher", setup.TeacherDir, "--data", setup.DataDir, "--out", Path.Combine(setup.Root, name), "--config", "tiny",
            "--teacher-steps", "16", "--steps-per-round", "8", "--rounds", "2", "--set", "rounds.min_student_steps=2", "--set", "micro_batch=8",
            "--set", "global_batch=16", "--set", "eval_every=0", "--set", "checkpoint_every=0", "--set", "val_batches=1", "--set", "log_every=1",
            "--set", "trainer.lr=3e-3", "--set", "trainer.warmup_steps=0", "--device", "cpu", "--threads", "1",
        };
        var (code, _, err) = MpiRunner.Sdtt(2, Args("two"));
        Assert.True(code == 0, err);
        (code, _, err) = MpiRunner.Sdtt(0, Args("one"));
        Assert.True(code == 0, err);
        var l2 = TrainLosses(Path.Combine(setup.Root, "two"));
        var l1 = TrainLosses(Path.Combine(setup.Root, "one"));
        Assert.Equal(16, l2.Count);
        for (int i = 0; i < l1.Count; i++) Assert.True(Math.Abs(l1[i] - l2[i]) <= LossTol, $"step {i + 1}: 2 ranks {l2[i]}, 1 process {l1[i]}");
        // Losses fall within each round (per-step losses are noisy: t differs per step, so compare 4-step means).
        foreach (var round in new[] { l2.Take(8).ToList(), l2.Skip(8).ToList() })
            Assert.True(round.TakeLast(4).Average() < round.Take(4).Average(), $"losses do not fall within a round: {string.Join(", ", l2)}");
        foreach (var r in new[] { "round-1-steps-8", "round-2-steps-4" })
            Assert.True(File.Exists(Path.Combine(setup.Root, "two", "rounds", r, "ema", ModelFolder.WeightsFile)), r);
    }

    [MpiFact]
    public void BenchDpTimesOneProcessAndTwoRanks()
    {
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 16, nValid: 8));
        var outDir = _tmp.Track(TrainingFixtures.TempDir("dp-bench"));
        var sets = TinyModel.Skip(4).Where(a => a != "--set").Where(a => a.StartsWith("model.")).SelectMany(a => new[] { "--set", a });
        var (code, stdout, err) = MpiRunner.Sdtt(0, new[] { "bench", "dp", "--config", "tiny", "--data", data, "--steps", "3", "--warmup", "1", "--out", outDir }
            .Concat(sets).ToArray());
        Assert.True(code == 0, err);
        Assert.Contains("| 2 ranks × 1 thread |", stdout);
        var rows = File.ReadAllLines(Path.Combine(outDir, "dp.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(new[] { "1 process × 2 threads", "2 ranks × 1 thread" }, rows.Select(r => r[0]));
        double D(string[] r, int i) => double.Parse(r[i], System.Globalization.CultureInfo.InvariantCulture);
        Assert.All(rows, r => Assert.True(D(r, 3) > 0 && D(r, 4) > 0));
        Assert.Equal(0, D(rows[0], 5));
        Assert.Equal(24_400 * 4 / 1e6, D(rows[1], 5), 6);
        Assert.True(D(rows[1], 6) > 0);
        Assert.True(Math.Abs(D(rows[0], 7) - D(rows[1], 7)) <= LossTol, "the two configurations should train identically");
    }

    [MpiFact]
    public void TwoRankRunResumesFromAnEarlierCheckpointWithRankZeroAloneDiscardingAndTruncating()
    {
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 16, nValid: 8));
        var dir = Path.Combine(_tmp.Track(TrainingFixtures.TempDir("dp-resume-from")), "run");
        var args = new[] { "train", "--data", data, "--out", dir, "--set", "max_steps=4", "--set", "checkpoint_every=1", "--set", "keep_checkpoints=5" }
            .Concat(TinyModel).ToArray();
        var (code, _, err) = MpiRunner.Sdtt(2, args);
        Assert.True(code == 0, err);
        var first = TrainLosses(dir);
        Assert.Equal(4, first.Count);

        // Back to step 2 on both ranks: rank 0 deletes steps 3 and 4 and cuts metrics.jsonl after step 2 (a second rank
        // deleting or rewriting the same files would fail or duplicate lines), then the same trajectory is replayed.
        (code, _, err) = MpiRunner.Sdtt(2, args.Concat(new[] { "--resume-from", "2" }).ToArray());
        Assert.True(code == 0, err);
        Assert.DoesNotContain("rank 1", err);
        Assert.Contains("discarded the later checkpoints step-0000003, step-0000004", err);
        var again = TrainLosses(dir);
        Assert.Equal(4, again.Count);
        for (int i = 0; i < 4; i++) Assert.True(Math.Abs(first[i] - again[i]) <= LossTol, $"step {i + 1}: {first[i]} then {again[i]}");
        var info = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(dir, Trainer.CheckpointsDirName, "step-0000004", "trainer.json")))!;
        Assert.Equal(2, info["world_size"]!.GetValue<int>());
        Assert.NotNull(info["train_data"]);

        // From step 0: rank 0 clears the checkpoints and the run starts afresh on both ranks.
        (code, _, err) = MpiRunner.Sdtt(2, args.Concat(new[] { "--resume-from", "0" }).ToArray());
        Assert.True(code == 0, err);
        Assert.Contains("starting afresh from step 0", err);
        Assert.Equal(4, TrainLosses(dir).Count);
    }

    private static List<double> TrainLosses(string run) =>
        new MetricsLog(Path.Combine(run, Trainer.MetricsFile)).Read().Where(o => o["kind"]!.GetValue<string>() == "train")
            .Select(o => o["loss"]!.GetValue<double>()).ToList();

    /// <summary>Two identical ranks in one process: every sum doubles.</summary>
    private sealed class FakeWorld(int size) : ICommunicator
    {
        public int Rank => 0;
        public int Size => size;
        public string Description => "fake";
        public void AllReduceSum(Span<float> values) { foreach (ref var v in values) v *= size; }
        public void AllReduceSum(Span<double> values) { foreach (ref var v in values) v *= size; }
        public void Broadcast(Span<byte> bytes, int root = 0) { }
        public void Barrier() { }
        public void Dispose() { }
    }
}
