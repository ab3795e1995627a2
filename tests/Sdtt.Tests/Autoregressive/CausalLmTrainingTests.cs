using Sdtt.Data;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Training;
using static TorchSharp.torch;
using Sdtt.IO;

namespace Sdtt.Tests.Autoregressive;

/// <summary>The AR objective on the shared trainer: a tiny GPT learns a deterministic counting language.</summary>
[Collection(global::Sdtt.Tests.Distillation.GlobalTorchRngCollection.Name)] // uses the global torch generator (model init, manual_seed): not in parallel with the trainer tests
public class CausalLmTrainingTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "sdtt-ar-train-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    private const int Vocab = 24, SeqLen = 16;

    private string WriteData()
    {
        var data = Path.Combine(_dir, "data");
        Directory.CreateDirectory(data);
        var rng = new Random(5);
        // x[i+1] = (x[i] + 1) mod 20 from a random start: after the first token everything is predictable
        IEnumerable<int[]> Make(int n) => Enumerable.Range(0, n).Select(_ =>
        {
            int s = rng.Next(20);
            return Enumerable.Range(0, SeqLen).Select(i => (s + i) % 20).ToArray();
        }).ToList();
        TokenDataset.Write(Path.Combine(data, "train.bin"), Make(256), SeqLen);
        TokenDataset.Write(Path.Combine(data, "valid.bin"), Make(32), SeqLen);
        File.WriteAllText(Path.Combine(data, TokenDataset.ManifestFile),
            "{\"seq_len\": " + SeqLen + ", \"splits\": {\"train\": {\"file\": \"train.bin\"}, \"valid\": {\"file\": \"valid.bin\"}}}");
        return data;
    }

    [Fact]
    public void LearnsCountingAndWritesALoadableGpt2Folder()
    {
        TorchRuntime.EnsureLoaded();
        var dataDir = WriteData();
        using var train = TokenDataset.Open(dataDir, "train");
        using var valid = TokenDataset.Open(dataDir, "valid");
        manual_seed(3);
        var cfg = new GptConfig(32, 4, 2, NPositions: SeqLen, VocabSize: Vocab, Dropout: 0.0);
        using var objective = new CausalLmObjective(new GptModel(cfg), ownsModel: true);

        // untrained (GPT-2 init, std 0.02): close to uniform, so the perplexity is close to the vocabulary size
        objective.Gpt.eval();
        var before = CausalLmObjective.Evaluate(objective.Gpt, valid, batchSize: 8);
        Assert.InRange(before.Ppl, Vocab * 0.9, Vocab * 1.1);
        Assert.Equal(32 * (SeqLen - 1), before.Tokens);

        var opt = new TrainerOptions
        {
            Lr = 3e-3, WarmupSteps = 5, MaxSteps = 60, MicroBatch = 8, GlobalBatch = 16, EmaDecay = 0.9, EvalEvery = 0,
            CheckpointEvery = 0, ValBatches = 0, LogEvery = 10, Seed = 1,
        };
        var result = new Trainer(objective, opt, train, valid, Path.Combine(_dir, "run")) { Plot = false }.Run();
        Assert.Equal(60, result.FinalStep);
        Assert.True(result.StepLosses[^1] < result.StepLosses[0] * 0.5, $"loss {result.StepLosses[0]} → {result.StepLosses[^1]}");
        var val = result.Validations[^1].Metrics;
        // the first position of each row is unpredictable (ln 20 nats spread over 15 targets ≈ 0.2 nats); the rest is counting
        Assert.True(val["ppl"] < 4, $"validation ppl {val["ppl"]}");

        // the final folder is an HF GPT-2 folder holding the EMA weights that were validated
        using var loaded = GptModelFolder.Load(result.ModelDir!);
        Assert.Equal(cfg, loaded.Config);
        var again = CausalLmObjective.Evaluate(loaded, valid, batchSize: 8);
        Assert.True(Math.Abs(again.Nll - val["nll"]) < 1e-5, $"{again.Nll} vs {val["nll"]}");
    }
}
