using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.Diffusion;
using Sdtt.Models;
using Sdtt.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Tests.Training;

/// <summary>Tiny models and toy token folders for the trainer tests (vocabulary 48, sequences of 16).</summary>
internal static class TrainingFixtures
{
    public const int Vocab = 48;
    public const int SeqLen = 16;

    /// <summary>A ~30k-parameter DiT over a 48-token vocabulary.</summary>
    public static DitConfig TinyConfig(double dropout = 0.1, bool timeConditioning = false) =>
        new(HiddenSize: 32, NHeads: 2, NBlocks: 1, CondDim: 16, VocabSize: Vocab, ModelLength: SeqLen, Dropout: dropout,
            TimeConditioning: timeConditioning);

    public static Dit NewModel(long seed = 7, double dropout = 0.1, bool timeConditioning = false)
    {
        torch.random.manual_seed(seed);
        return new Dit(TinyConfig(dropout, timeConditioning));
    }

    /// <summary>Gives every parameter small random values (the reference init zeroes the output layer).</summary>
    public static void Perturb(nn.Module model, long seed = 3)
    {
        using var _ = no_grad();
        var g = new Generator((ulong)seed);
        foreach (var p in model.parameters()) p.copy_(randn(p.shape, generator: g) * 0.3);
    }

    /// <summary>A fresh temp folder.</summary>
    public static string TempDir(string tag)
    {
        var d = Path.Combine(Path.GetTempPath(), $"sdtt-train-{tag}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(d);
        return d;
    }

    /// <summary>A token folder of constant sequences over 4 tokens (learnable: one visible token gives the whole sequence;
    /// with everything masked the marginal has 4 choices, ln 4 = 1.39 nats, instead of 47, ln 47 = 3.85).</summary>
    public static string ToyData(int nTrain = 64, int nValid = 16, int seqLen = SeqLen)
    {
        var dir = TempDir("data");
        int[] tokens = { 5, 17, 29, 41 };
        IEnumerable<int[]> Seqs(int n, int offset) => Enumerable.Range(offset, n).Select(i => Enumerable.Repeat(tokens[(i * 7 + i / 4) % 4], seqLen).ToArray());
        TokenDataset.Write(Path.Combine(dir, "train.bin"), Seqs(nTrain, 0), seqLen);
        TokenDataset.Write(Path.Combine(dir, "valid.bin"), Seqs(nValid, 1000), seqLen);
        File.WriteAllText(Path.Combine(dir, TokenDataset.ManifestFile), new JsonObject
        {
            ["seq_len"] = seqLen,
            ["splits"] = new JsonObject { ["train"] = new JsonObject { ["file"] = "train.bin" }, ["valid"] = new JsonObject { ["file"] = "valid.bin" } },
        }.ToJsonString());
        return dir;
    }

    public static TrainerOptions Options(long maxSteps, int micro = 4, int global = 4) => new()
    {
        Lr = 3e-3, WarmupSteps = 2, MaxSteps = maxSteps, MicroBatch = micro, GlobalBatch = global, EvalEvery = 0, CheckpointEvery = 0,
        KeepCheckpoints = 2, ValBatches = 2, LogEvery = 1, Seed = 5, Threads = 1,
    };
}

/// <summary>An objective that wraps MDLM and returns NaN at one optimizer step (1-based).</summary>
internal sealed class NanAtStepObjective(MdlmObjective inner, long nanStep) : ITrainingObjective
{
    public string Name => inner.Name;
    public nn.Module Model => inner.Model;
    public Tensor Loss(Tensor batch, TrainingContext ctx)
    {
        var l = inner.Loss(batch, ctx);
        return ctx.Step + 1 == nanStep ? l * double.NaN : l;
    }
    public void OnStepStart(TrainingContext ctx) => inner.OnStepStart(ctx);
    public IReadOnlyDictionary<string, double> Validate(TokenDataset valid, TrainingContext ctx) => inner.Validate(valid, ctx);
    public void SaveState(string dir) => inner.SaveState(dir);
    public void LoadState(string dir) => inner.LoadState(dir);
    public void WriteModel(string dir, bool ema, TrainingContext ctx) => inner.WriteModel(dir, ema, ctx);
    public void Dispose() => inner.Dispose();
}

/// <summary>A deterministic MDLM-style loss (fixed t = 0.5, every third position masked, no dropout): gradients depend only
/// on the data, so accumulation can be compared.</summary>
internal sealed class FixedMaskObjective(Dit model) : ITrainingObjective
{
    public List<double> GradNorms { get; } = new();
    public string Name => "fixed";
    public nn.Module Model => model;
    public Tensor Loss(Tensor batch, TrainingContext ctx)
    {
        using var scope = NewDisposeScope();
        long b = batch.shape[0], l = batch.shape[1];
        var pos = arange(l).remainder(3).eq(0).unsqueeze(0).expand(b, l);
        var xt = where(pos, full_like(batch, model.MaskIndex), batch);
        var t = full(b, 0.5f);
        var (loss, _) = MdlmLoss.Compute(model, batch, xt, t, new LogLinearSchedule());
        return loss.MoveToOuterDisposeScope();
    }
    public void OnStepStart(TrainingContext ctx) { }
    public IReadOnlyDictionary<string, double> Validate(TokenDataset valid, TrainingContext ctx) => new Dictionary<string, double>();
    public void SaveState(string dir) { }
    public void LoadState(string dir) { }
    public void WriteModel(string dir, bool ema, TrainingContext ctx) { }
    public void Dispose() { }
}
