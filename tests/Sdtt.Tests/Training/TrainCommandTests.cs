using System.Diagnostics;
using Sdtt.IO;
using Sdtt.Training;

namespace Sdtt.Tests.Training;

/// <summary><c>sdtt train</c> end to end on a toy token folder: fresh run, refusal of a non-empty folder, resume, errors.</summary>
[Collection(global::Sdtt.Tests.Distillation.GlobalTorchRngCollection.Name)]
public class TrainCommandTests : IDisposable
{
    private readonly TempFolders _tmp = new();
    /// <summary>Removes the test's temporary folders, also when an assertion failed.</summary>
    public void Dispose() => _tmp.Dispose();

    private static (int Code, string Out, string Err) Sdtt(params string[] args) => ChildProcess.Sdtt(TimeSpan.FromMinutes(3), args);

    [Fact]
    public void TrainWritesAModelFolderAndResumes()
    {
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 16, nValid: 8));
        var outDir = Path.Combine(_tmp.Track(TrainingFixtures.TempDir("cli")), "run");
        string[] common =
        {
            "--data", data, "--out", outDir, "--threads", "1",
            "--set", "model.vocab_size=48", "--set", "model.hidden_size=32", "--set", "model.n_heads=2", "--set", "model.n_blocks=1",
            "--set", "model.cond_dim=16", "--set", "micro_batch=4", "--set", "global_batch=4", "--set", "eval_every=2",
            "--set", "checkpoint_every=2", "--set", "val_batches=1", "--set", "log_every=1",
        };
        var (code, stdout, err) = Sdtt(new[] { "train", "--config", "tiny", "--set", "max_steps=2" }.Concat(common).ToArray());
        Assert.True(code == 0, err);
        var model = Path.Combine(outDir, "model");
        Assert.Equal(model, stdout.Trim());
        Assert.Contains("validation nll", err);
        var cfg = ModelFolder.ReadDitConfig(model);
        Assert.Equal((32, 48, TrainingFixtures.SeqLen), (cfg.HiddenSize, cfg.VocabSize, cfg.ModelLength));
        foreach (var f in new[] { "metrics.jsonl", "loss.png", TrainCommandFile, "checkpoints/last.json" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);

        (code, _, err) = Sdtt(new[] { "train", "--config", "tiny" }.Concat(common).ToArray());
        Assert.Equal(1, code);
        Assert.Contains("not empty", err);
        Assert.Contains("--resume", err);

        (code, _, err) = Sdtt("train", "--resume", "--data", data, "--out", outDir, "--threads", "1", "--set", "max_steps=4");
        Assert.True(code == 0, err);
        Assert.Contains("resumed from step-0000002", err);
        Assert.EndsWith("step-0000004", new CheckpointStore(Path.Combine(outDir, "checkpoints")).Last());

        var empty = _tmp.Track(TrainingFixtures.TempDir("cli-empty"));
        (code, _, err) = Sdtt("train", "--resume", "--data", data, "--out", empty);
        Assert.Equal(1, code);
        Assert.Contains("no checkpoint", err);
        Assert.Single(err.Trim().Split('\n'));
    }

    private const string TrainCommandFile = "train_config.json";
}
