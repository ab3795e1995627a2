using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.Diffusion;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Tests.Training;

/// <summary>The shared trainer: EMA, warm-up, accumulation, exact resume, NaN stop, checkpoint rotation, MDLM learning.</summary>
[Collection(global::Sdtt.Tests.Distillation.GlobalTorchRngCollection.Name)]
public class TrainerTests : IDisposable
{
    private readonly TempFolders _tmp = new();
    /// <summary>Removes the test's temporary folders, also when an assertion failed.</summary>
    public void Dispose() => _tmp.Dispose();

    [Fact]
    public void EmaFollowsTheReferenceFormula()
    {
        using var lin = nn.Linear(3, 2);
        using (no_grad())
        {
            lin.weight!.copy_(tensor(new float[] { 1, 2, 3, 4, 5, 6 }).reshape(2, 3));
            lin.bias!.copy_(tensor(new float[] { -1, 1 }));
        }
        using var ema = new Ema(lin, 0.9999);
        double w0 = 1, b1 = 1;
        double sw = w0, sb = b1;
        for (int n = 1; n <= 4; n++)
        {
            using (no_grad()) { lin.weight!.add_(0.5); lin.bias!.mul_(-2); }
            w0 += 0.5; b1 *= -2;
            ema.Update(lin);
            double d = Math.Min(0.9999, (1.0 + n) / (10.0 + n));
            Assert.Equal(d, ema.DecayAt(n), 15);
            sw -= (1 - d) * (sw - w0);
            sb -= (1 - d) * (sb - b1);
            Assert.Equal(sw, ema.Shadows[0][0, 0].item<float>(), 5);
            Assert.Equal(sb, ema.Shadows[1][1].item<float>(), 5);
        }
        Assert.Equal(4, ema.NumUpdates);
        Assert.Equal(0.9999, ema.DecayAt(1_000_000), 15);
        // Apply swaps the shadows in and restores the raw weights bit-exactly.
        var raw = lin.weight!.detach().clone();
        using (ema.Apply(lin))
            Assert.Equal(sw, lin.weight![0, 0].item<float>(), 5);
        Assert.True(lin.weight!.EqualTo(raw));
        // Save / Load round trip.
        var dir = _tmp.Track(TrainingFixtures.TempDir("ema"));
        ema.Save(Path.Combine(dir, "ema.safetensors"));
        using var ema2 = new Ema(lin, 0.9999);
        ema2.Load(Path.Combine(dir, "ema.safetensors"));
        Assert.Equal(4, ema2.NumUpdates);
        Assert.True(ema2.Shadows[0].EqualTo(ema.Shadows[0]));
    }

    [Fact]
    public void WarmupIsLinearFromZeroThenConstant()
    {
        var o = new TrainerOptions { Lr = 3e-4, WarmupSteps = 4 };
        Assert.Equal(new[] { 0, 0.25, 0.5, 0.75, 1, 1, 1 }, Enumerable.Range(0, 7).Select(s => o.LrFactor(s)).ToArray());
        Assert.Equal(1.0, (o with { WarmupSteps = 0 }).LrFactor(0));
        // The trainer uses it: the logged lr of step n (1-based) is lr · min(1, (n−1)/warmup).
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 16, nValid: 4));
        var run = _tmp.Track(TrainingFixtures.TempDir("warm"));
        using var model = TrainingFixtures.NewModel();
        using var obj = new MdlmObjective(model);
        using var train = TokenDataset.Open(data, "train");
        new Trainer(obj, TrainingFixtures.Options(6) with { WarmupSteps = 4, Lr = 1e-2 }, train, null, run) { WriteFinalModel = false, Plot = false }.Run();
        var lrs = new MetricsLog(Path.Combine(run, Trainer.MetricsFile)).Read().Select(r => r["lr"]!.GetValue<double>()).ToArray();
        Assert.Equal(new[] { 0, 0.0025, 0.005, 0.0075, 0.01, 0.01 }, lrs.Select(x => Math.Round(x, 12)).ToArray());
    }

    [Fact]
    public void AccumulationMatchesOneLargeBatch()
    {
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 16, nValid: 4));
        using var train = TokenDataset.Open(data, "train");
        (double[] Norms, List<Tensor[]> Grads) RunWith(int micro)
        {
            var run = _tmp.Track(TrainingFixtures.TempDir("acc"));
            using var model = TrainingFixtures.NewModel(dropout: 0);
            TrainingFixtures.Perturb(model);
            using var obj = new FixedMaskObjective(model);
            var grads = new List<Tensor[]>();
            var opt = TrainingFixtures.Options(1, micro, 4) with { WarmupSteps = 0 };
            new Trainer(obj, opt, train, null, run)
            {
                WriteFinalModel = false, Plot = false,
                GradientsReady = (m, _) => grads.Add(m.parameters().Select(p => p.grad!.detach().clone()).ToArray()),
            }.Run();
            var norms = new MetricsLog(Path.Combine(run, Trainer.MetricsFile)).Read().Select(r => r["grad_norm"]!.GetValue<double>()).ToArray();
            return (norms, grads);
        }
        var (n1, g1) = RunWith(4);
        var (n4, g4) = RunWith(1);
        Assert.Single(n1);
        Assert.True(n1[0] > 1e-2);
        for (int i = 0; i < 1; i++)
        {
            Assert.True(Math.Abs(n1[i] - n4[i]) <= 1e-5 * n1[i], $"grad norm step {i + 1}: 1×4 {n1[i]} vs 4×1 {n4[i]}");
            for (int j = 0; j < g1[i].Length; j++)
            {
                double scale = Math.Max(1e-3, g1[i][j].abs().max().item<float>());
                Assert.True(Golden.MaxAbsDiff(g1[i][j], g4[i][j]) <= 1e-5 * scale, $"step {i + 1} parameter {j}: gradients differ by {Golden.MaxAbsDiff(g1[i][j], g4[i][j])}");
            }
        }
        // A wrong accumulation (no division by the number of micro-batches) would be 4× larger: the test can fail.
        Assert.True(Math.Abs(n1[0] * 4 - n4[0]) > 1e-3);
    }

    [Fact]
    public void ResumedRunReproducesTheUninterruptedLossesExactly()
    {
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 12, nValid: 4)); // 12 / micro 2 = 6 batches per epoch: crosses an epoch
        using var train = TokenDataset.Open(data, "train");
        using var valid = TokenDataset.Open(data, "valid");
        var opt = TrainingFixtures.Options(6, micro: 2, global: 4) with { CheckpointEvery = 3, EvalEvery = 3 };

        var straight = _tmp.Track(TrainingFixtures.TempDir("straight"));
        TrainingResult a;
        Tensor wa;
        using (var model = TrainingFixtures.NewModel(seed: 11))
        using (var obj = new MdlmObjective(model))
        {
            a = new Trainer(obj, opt, train, valid, straight) { Plot = false }.Run();
            wa = model.state_dict()["blocks.0.mlp.0.weight"].clone();
        }

        var split = _tmp.Track(TrainingFixtures.TempDir("split"));
        TrainingResult b1, b2;
        Tensor wb;
        using (var model = TrainingFixtures.NewModel(seed: 11))
        using (var obj = new MdlmObjective(model))
            b1 = new Trainer(obj, opt with { MaxSteps = 3 }, train, valid, split) { Plot = false }.Run();
        using (var model = TrainingFixtures.NewModel(seed: 99)) // different init: everything must come from the checkpoint
        using (var obj = new MdlmObjective(model))
        {
            b2 = new Trainer(obj, opt, train, valid, split) { Plot = false }.Run(resume: true);
            wb = model.state_dict()["blocks.0.mlp.0.weight"].clone();
        }
        Assert.Equal(3, b2.StartStep);
        Assert.Equal(6, a.StepLosses.Count);
        var resumed = b1.StepLosses.Concat(b2.StepLosses).ToArray();
        Assert.Equal(a.StepLosses.ToArray(), resumed); // bit-exact doubles
        Assert.True(wa.EqualTo(wb));
        Assert.Equal(a.Validations[^1].Metrics["nll"], b2.Validations[^1].Metrics["nll"]);
        // The final EMA model folders are identical too.
        using var ma = ModelFolder.LoadDit(Path.Combine(straight, "model"));
        using var mb = ModelFolder.LoadDit(Path.Combine(split, "model"));
        foreach (var (k, t) in ma.state_dict()) Assert.True(t.EqualTo(mb.state_dict()[k]), k);
        // metrics.jsonl of the resumed run has one train line per step, no duplicates.
        var steps = new MetricsLog(Path.Combine(split, Trainer.MetricsFile)).Read().Where(r => r["kind"]!.GetValue<string>() == "train").Select(r => r["step"]!.GetValue<long>());
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6 }, steps.ToArray());
    }

    [Fact]
    public void NanLossStopsWithoutTouchingTheLastGoodCheckpoint()
    {
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 16, nValid: 4));
        using var train = TokenDataset.Open(data, "train");
        var run = _tmp.Track(TrainingFixtures.TempDir("nan"));
        using var model = TrainingFixtures.NewModel();
        using var obj = new NanAtStepObjective(new MdlmObjective(model), nanStep: 4);
        var opt = TrainingFixtures.Options(8) with { CheckpointEvery = 2 };
        var trainer = new Trainer(obj, opt, train, null, run) { Plot = false };
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run());
        Assert.Equal(4, e.Step);
        Assert.Contains("step 4", e.Message);
        Assert.Contains("NaN", e.Message);
        Assert.Contains("step-0000002", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        var store = new CheckpointStore(Path.Combine(run, Trainer.CheckpointsDirName));
        Assert.EndsWith("step-0000002", store.Last());
        Assert.Equal(new long[] { 2 }, store.List().Select(c => c.Step).ToArray());
        Assert.Empty(Directory.GetDirectories(store.Dir, "*.tmp"));
        Assert.False(Directory.Exists(Path.Combine(run, Trainer.ModelDirName)));
        using (var f = new SafeTensorsFile(Path.Combine(store.Last()!, "model.safetensors")))
            foreach (var name in f.Entries.Keys) Assert.True(f.Load(name).isfinite().all().item<bool>(), name);
    }

    [Fact]
    public void CheckpointRotationKeepsTheNewestK()
    {
        var dir = _tmp.Track(TrainingFixtures.TempDir("rot"));
        var store = new CheckpointStore(Path.Combine(dir, "checkpoints"));
        Assert.Null(store.Last());
        for (long s = 1; s <= 5; s++)
            store.Save(s * 10, d => File.WriteAllText(Path.Combine(d, "x.txt"), s.ToString()), keep: 2);
        Assert.Equal(new long[] { 40, 50 }, store.List().Select(c => c.Step).ToArray());
        Assert.EndsWith("step-0000050", store.Last());
        Assert.Equal("5", File.ReadAllText(Path.Combine(store.Last()!, "x.txt")));
        // Re-writing an existing step replaces it; a stale .tmp folder is ignored and cleaned.
        Directory.CreateDirectory(Path.Combine(store.Dir, "step-0000060.tmp"));
        store.Save(50, d => File.WriteAllText(Path.Combine(d, "x.txt"), "again"), keep: 2);
        Assert.Equal("again", File.ReadAllText(Path.Combine(store.Last()!, "x.txt")));
        Assert.Equal(new long[] { 40, 50 }, store.List().Select(c => c.Step).ToArray());
    }

    [Fact]
    public void ResumeWithoutCheckpointAndFreshRunOverCheckpointAreRefused()
    {
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 8, nValid: 4));
        using var train = TokenDataset.Open(data, "train");
        var run = _tmp.Track(TrainingFixtures.TempDir("refuse"));
        using var model = TrainingFixtures.NewModel();
        using var obj = new MdlmObjective(model);
        var e = Assert.Throws<SdttException>(() => new Trainer(obj, TrainingFixtures.Options(1), train, null, run).Run(resume: true));
        Assert.Contains("no checkpoint", e.Message);
        new Trainer(obj, TrainingFixtures.Options(1), train, null, run) { Plot = false, WriteFinalModel = false }.Run();
        var e2 = Assert.Throws<SdttException>(() => new Trainer(obj, TrainingFixtures.Options(1), train, null, run).Run());
        Assert.Contains("--resume", e2.Message);
        var other = _tmp.Track(TrainingFixtures.ToyData(nTrain: 12, nValid: 4));
        using (var otherTrain = TokenDataset.Open(other, "train"))
        {
            var e3 = Assert.Throws<SdttException>(() => new Trainer(obj, TrainingFixtures.Options(2), otherTrain, null, run).Run(resume: true));
            Assert.Contains("same --data", e3.Message);
        }
    }

    [Fact]
    public void TinyMdlmRunLowersTheValidationNelbo()
    {
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 64, nValid: 16));
        using var train = TokenDataset.Open(data, "train");
        using var valid = TokenDataset.Open(data, "valid");
        var run = _tmp.Track(TrainingFixtures.TempDir("learn"));
        using var model = TrainingFixtures.NewModel(dropout: 0);
        using var obj = new MdlmObjective(model);
        var opt = TrainingFixtures.Options(40, micro: 8, global: 8) with { Lr = 1e-2, WarmupSteps = 5, EvalEvery = 4, ValBatches = 2, LogEvery = 4 };
        var r = new Trainer(obj, opt, train, valid, run).Run();
        var nll = r.Validations.Select(v => v.Metrics["nll"]).ToArray();
        Assert.Equal(10, nll.Length);
        // Uniform guessing over 47 tokens costs ≈ ln 47 = 3.85 nats; the 4 patterns are learnable (well below ln 4 = 1.39).
        Assert.True(nll[0] > 2.5, $"first validation nll {nll[0]}");
        Assert.True(nll[^1] < 1.0 && nll[^1] < nll[0] - 2.0, $"validation nll did not fall: {string.Join(", ", nll.Select(x => x.ToString("F3")))}");
        var last = r.Validations[^1].Metrics;
        Assert.Equal(Math.Exp(last["nll"]), last["ppl"], 9);
        Assert.Equal(last["nll"] / Math.Log(2), last["bpd"], 12);
        Assert.True(File.Exists(Path.Combine(run, Trainer.PlotFile)));
        Assert.True(new FileInfo(Path.Combine(run, Trainer.PlotFile)).Length > 1000);
        // The final model folder reloads and gives the same validation NELBO (EMA weights were written).
        using var reloaded = ModelFolder.LoadDit(Path.Combine(run, Trainer.ModelDirName));
        var again = NelboEvaluator.Evaluate(reloaded, valid, new NelboOptions(8, 2, opt.ValSeed));
        Assert.Equal(last["nll"], again.Nll, 6);
    }
}
