using Sdtt.Cli;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Sampling;
using Sdtt.Training;

namespace Sdtt.Tests.Distillation;

/// <summary><c>sdtt distill</c> end to end on a tiny teacher: several rounds, one folder per round with loadable EMA and raw
/// students at halved step counts, metrics and the plot, and a resumed run that adds a round.</summary>
[Collection(GlobalTorchRngCollection.Name)]
public class DistillCliTests
{
    private static int Sdtt(params string[] args) => (int)typeof(CliRunner).Assembly.EntryPoint!.Invoke(null, new object[] { args })!;

    [Fact]
    public void DistilsATinyTeacherForSeveralRoundsAndResumes()
    {
        using var setup = new TinyDistillSetup();
        var outDir = Path.Combine(setup.Root, "run");
        string[] Common(params string[] extra) => new[]
        {
            "distill", "--teacher", setup.TeacherDir, "--data", setup.DataDir, "--out", outDir, "--config", "tiny",
            "--teacher-steps", "16", "--steps-per-round", "2", "--set", "rounds.min_student_steps=2", "--set", "micro_batch=4",
            "--set", "global_batch=4", "--set", "eval_every=0", "--set", "checkpoint_every=0", "--set", "val_batches=1", "--set", "log_every=1",
            "--device", "cpu", "--threads", "1",
        }.Concat(extra).ToArray();
        Assert.Equal(0, Sdtt(Common("--rounds", "2", "--loss", "tvd", "--grid", "coded")));
        Assert.True(Directory.Exists(Path.Combine(outDir, "rounds", "round-2-steps-4", "ema")));
        Assert.False(Directory.Exists(Path.Combine(outDir, "rounds", "round-3-steps-2")));
        // Refuses to overwrite, then resumes and runs a third round (16 → 8 → 4 → 2 student steps).
        Assert.Equal(1, Sdtt(Common("--rounds", "3")));
        // The resumed run also evaluates each new round with a (tiny, untrained) autoregressive judge.
        var judgeDir = Path.Combine(setup.Root, "judge");
        TorchSharp.torch.manual_seed(3);
        using (var judge = new GptModel(new GptConfig(16, 2, 1, NPositions: 32, VocabSize: 64))) GptModelFolder.Save(judgeDir, judge);
        Assert.Equal(0, Sdtt("distill", "--out", outDir, "--resume", "--rounds", "3", "--threads", "1", "--judge", judgeDir, "--eval-samples", "2"));
        foreach (var (name, steps) in new[] { ("round-1-steps-8", 8), ("round-2-steps-4", 4), ("round-3-steps-2", 2) })
            foreach (var kind in new[] { "ema", "raw" })
            {
                var dir = Path.Combine(outDir, "rounds", name, kind);
                using var m = ModelFolder.LoadDit(dir);
                var extra = ModelFolder.ReadConfigJson(dir)["sdtt"]!;
                Assert.Equal(steps, extra["student_steps"]!.GetValue<int>());
                Assert.Equal("tvd", extra["divergence"]!.GetValue<string>());
                Assert.Equal("coded", extra["grid"]!.GetValue<string>());
                // The student samples at its own (halved) step count: one network call per step at most, no mask left.
                var r = new AncestralSampler().Sample(m, new SamplingOptions { Steps = steps, NumSamples = 2, SeqLen = 16, Seed = 1 });
                Assert.Equal(steps, r.Steps);
                Assert.InRange(r.NetworkCalls, 1, steps + 1);
                Assert.All(r.Tokens.SelectMany(x => x), tok => Assert.InRange(tok, 0, m.MaskIndex - 1));
            }
        var log = new MetricsLog(Path.Combine(outDir, "metrics.jsonl")).Read();
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6 }, log.Where(o => o["kind"]!.GetValue<string>() == "train").Select(o => o["step"]!.GetValue<long>()));
        var rounds = log.Where(o => o["kind"]!.GetValue<string>() == "round").ToList();
        Assert.Equal(new[] { 1.0, 2.0, 3.0 }, rounds.Select(o => o["round"]!.GetValue<double>()));
        // Round 3 ran with the judge: generative perplexity of an untrained judge is finite and above 1; entropy is positive.
        Assert.InRange(rounds[2]["gen_ppl"]!.GetValue<double>(), 1.0, 1e6);
        Assert.InRange(rounds[2]["entropy"]!.GetValue<double>(), 1e-6, Math.Log(16) + 1e-9);
        Assert.Null(rounds[0]["gen_ppl"]);
        Assert.True(new FileInfo(Path.Combine(outDir, "distill.png")).Length > 1000);
    }
}
