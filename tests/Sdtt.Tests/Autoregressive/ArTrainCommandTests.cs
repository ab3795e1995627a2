using System.Diagnostics;
using Sdtt.Models;
using Sdtt.Tests.Training;
using Sdtt.IO;

namespace Sdtt.Tests.Autoregressive;

/// <summary><c>sdtt train --model-type ar</c> end to end: a GPT-2 folder is written and the run resumes without the flag.</summary>
[Collection(global::Sdtt.Tests.Distillation.GlobalTorchRngCollection.Name)]
public class ArTrainCommandTests : IDisposable
{
    private readonly TempFolders _tmp = new();
    /// <summary>Removes the test's temporary folders, also when an assertion failed.</summary>
    public void Dispose() => _tmp.Dispose();

    private static (int Code, string Out, string Err) Sdtt(params string[] args) => ChildProcess.Sdtt(TimeSpan.FromMinutes(3), args);

    [Fact]
    public void TrainsTheArBaselineAndResumes()
    {
        var data = _tmp.Track(TrainingFixtures.ToyData(nTrain: 16, nValid: 8));
        var outDir = Path.Combine(_tmp.Track(TrainingFixtures.TempDir("ar-cli")), "run");
        var (code, stdout, err) = Sdtt("train", "--config", "tiny", "--model-type", "ar", "--data", data, "--out", outDir, "--threads", "1",
            "--set", "model.vocab_size=48", "--set", "model.hidden_size=32", "--set", "model.n_heads=2", "--set", "model.n_blocks=1",
            "--set", "micro_batch=4", "--set", "global_batch=4", "--set", "eval_every=2", "--set", "checkpoint_every=2",
            "--set", "val_batches=1", "--set", "max_steps=2");
        Assert.True(code == 0, err);
        Assert.Contains("train: ar,", err);
        var model = stdout.Trim();
        Assert.True(GptModelFolder.IsGptFolder(model));
        var cfg = GptModelFolder.ReadConfig(model);
        Assert.Equal((32, 2, 1, 47, TrainingFixtures.SeqLen), (cfg.HiddenSize, cfg.NHeads, cfg.NLayers, cfg.VocabSize, cfg.NPositions));
        using (var m = GptModelFolder.Load(model)) Assert.Equal(cfg.ParameterCount, m.parameters().Sum(p => p.numel()));

        (code, _, err) = Sdtt("train", "--resume", "--data", data, "--out", outDir, "--threads", "1", "--set", "max_steps=4");
        Assert.True(code == 0, err);
        Assert.Contains("train: ar,", err);
        Assert.Contains("resumed from step-0000002", err);

        (code, _, err) = Sdtt("train", "--config", "tiny", "--model-type", "rnn", "--data", data, "--out", outDir + "-x");
        Assert.Equal(1, code);
        Assert.Contains("--model-type", err);
    }
}
