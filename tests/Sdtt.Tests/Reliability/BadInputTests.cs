using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Tests.Distillation;
using static TorchSharp.torch;

namespace Sdtt.Tests.Reliability;

/// <summary>Folders shared by the bad-input table: a tiny teacher and data (<see cref="TinyDistillSetup"/>), a GPT folder,
/// a corrupt teacher, a folder whose config disagrees with its weights, one without weights, and a plain file.</summary>
public sealed class BadInputFixture : IDisposable
{
    private readonly TinyDistillSetup _setup = new();
    public string Root => _setup.Root;
    public string Teacher => _setup.TeacherDir;
    public string Data => _setup.DataDir;
    public string Gpt => Path.Combine(Root, "gpt");
    public string Corrupt => Path.Combine(Root, "corrupt");
    public string Mismatch => Path.Combine(Root, "mismatch");
    public string NoWeights => Path.Combine(Root, "noweights");
    public string AFile => Path.Combine(Root, "a-file");

    public BadInputFixture()
    {
        manual_seed(3);
        using (var judge = new GptModel(new GptConfig(16, 2, 1, NPositions: 32, VocabSize: 64))) GptModelFolder.Save(Gpt, judge);
        Copy(Teacher, Corrupt);
        var w = Path.Combine(Corrupt, ModelFolder.WeightsFile);
        using (var f = new FileStream(w, FileMode.Open)) f.SetLength(f.Length / 2);
        Copy(Teacher, Mismatch);
        var cfg = ModelFolder.ReadConfigJson(Mismatch);
        cfg["hidden_size"] = 48;
        if (cfg["hidden_dim"] is not null) cfg["hidden_dim"] = 48;
        File.WriteAllText(Path.Combine(Mismatch, ModelFolder.ConfigFile), cfg.ToJsonString());
        Directory.CreateDirectory(NoWeights);
        File.Copy(Path.Combine(Teacher, ModelFolder.ConfigFile), Path.Combine(NoWeights, ModelFolder.ConfigFile));
        File.WriteAllText(AFile, "not a folder");
    }

    private static void Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }

    public string Expand(string s) => s.Replace("{teacher}", Teacher).Replace("{data}", Data).Replace("{gpt}", Gpt)
        .Replace("{corrupt}", Corrupt).Replace("{mismatch}", Mismatch).Replace("{noweights}", NoWeights).Replace("{file}", AFile)
        .Replace("{root}", Root);

    public void Dispose() => _setup.Dispose();
}

/// <summary>Every command given bad input answers with one clear <c>error:</c> line naming the thing at fault, exit code 1,
/// before any long work, and leaves no output behind (the table of issue 12 and the earlier cases).</summary>
[Collection(GlobalTorchRngCollection.Name)]
public class BadInputTests(BadInputFixture fx) : IClassFixture<BadInputFixture>
{
    private const string Distill = "distill --teacher {teacher} --data {data} --config tiny --out {root}/new";

    public static TheoryData<string, string, string> Cases => new()
    {
        // train
        { "train --config tiny --data {data} --out {root}/new --model-type foo", "unknown --model-type 'foo'", "{root}/new" },
        { "train --config tiny --data {data} --out {file}/run", "{file} is a file", "" },
        { "train --config tiny --data {data} --out {file}", "is a file", "" },
        { "train --config tiny --data {root}/nodata --out {root}/new", "data folder not found", "{root}/new" },
        { "train --config tiny --data {data} --out {root}/new --set lr=-1", "lr: must be positive", "{root}/new" },
        { "train --resume --data {data} --out {root}/new", "no checkpoint", "{root}/new" },
        { "train --config tiny --data {data} --out {teacher}", "not empty", "" },
        // distill
        { Distill + " --judge {root}/nonexistent", "--judge {root}/nonexistent: model folder not found", "{root}/new" },
        { Distill + " --judge {teacher}", "not an autoregressive (GPT-2) model folder", "{root}/new" },
        { "distill --teacher {corrupt} --data {data} --config tiny --out {root}/new", "model.safetensors", "{root}/new" },
        { "distill --teacher {gpt} --data {data} --config tiny --out {root}/new", "autoregressive (GPT-2) model folder, not a diffusion model", "{root}/new" },
        { "distill --teacher {teacher} --data {data} --config tiny --out {file}/x", "is a file", "" },
        { Distill + " --set trainer.nope=1", "unknown key", "{root}/new" },
        // sample
        { "sample --model {gpt} --steps 4", "autoregressive (GPT-2) model folder, not a diffusion model", "" },
        { "sample --model {teacher} --steps 2 --out {file}/x.txt", "{file} is a file", "" },
        { "sample --model {teacher} --steps 2 --out {root}", "is a folder", "" },
        { "sample --model {teacher} --steps 2000000000", "--steps must be in 1..100,000", "" },
        { "sample --model {teacher} --steps 4 --num-samples 2000000000", "--num-samples must be in 1..100,000", "" },
        { "sample --model {teacher} --steps 4 --seq-len 17", "above the model's length 16", "" },
        { "sample --model {root}/nomodel --steps 4", "model folder not found", "" },
        // info
        { "info {mismatch}", "disagree: vocab_embed.embedding is [64, 32], config.json implies [64, 48]", "" },
        { "info {noweights}", "weights are missing", "" },
        // bench, eval, prepare, pipeline
        { "bench latency --sizes tiny --steps 1 --repeats 1 --out {file}", "is a file", "" },
        { "bench latency --sizes tiny --steps 1 --repeats 1 --out {file}/sub", "{file} is a file", "" },
        { "bench latency --sizes tiny --steps 1 --repeats 1 --sampler ar-kv", "--sampler: 'ar-kv' is not a diffusion sampler", "" },
        { "bench latency --sizes tiny --steps 1 --repeats 1 --batch 0", "--batch: give batch sizes ≥ 1", "" },
        { "eval --model {teacher} --steps 2 --num-samples 2 --out {file}/r.json", "{file} is a file", "" },
        { "eval --model {teacher} --steps 2 --num-samples 2 --save-samples {file}/s.jsonl", "--save-samples", "" },
        { "eval --model {teacher} --steps 2000000000", "--steps must be in", "" },
        { "eval --model {teacher} --steps 2 --num-samples 2 --seq-len 17 --metrics entropy", "above the model's length 16", "" },
        { "eval --model {gpt} --judge {teacher} --num-samples 2 --metrics genppl", "judge must be a GPT-2-style AR model folder", "" },
        { "eval compare --reports {file} --out {file}", "is a file", "" },
        { "prepare --input {root} --output {file}", "--output {file}: is a file", "" },
        { "pipeline --input {root} --out {file}/p", "{file} is a file", "" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void RejectsWithOneLineNamingTheFault(string args, string fragment, string mustNotExist)
    {
        var argv = fx.Expand(args).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var r = CliHarness.Run(argv);
        CliHarness.AssertOneLineError(r, fx.Expand(fragment));
        if (mustNotExist.Length > 0) Assert.False(Directory.Exists(fx.Expand(mustNotExist)), $"{mustNotExist} was left behind");
    }

    [Fact]
    public void SamplingMemoryBoundNamesTheLargestBatchThatFits()
    {
        var cfg = new DitConfig(768, 12, 12, VocabSize: 50258, ModelLength: 1024);
        var e = Assert.Throws<SdttException>(() => Sdtt.Sampling.SamplingLimits.Check(16, 50_000, 1024, cfg, availableBytes: 16L << 30));
        Assert.Contains("--num-samples 50,000 × --seq-len 1,024 needs about 3515.6 GB", e.Message);
        Assert.Contains("use at most 227 samples", e.Message);
        Sdtt.Sampling.SamplingLimits.Check(16, 227, 1024, cfg, availableBytes: 16L << 30);
    }

    [Fact]
    public void EtasPastADayPrintDays()
    {
        Assert.Equal("1 d 06:00:05", Durations.Format(TimeSpan.FromHours(30) + TimeSpan.FromSeconds(5)));
        Assert.Equal("23:59:59", Durations.Format(TimeSpan.FromSeconds(86399)));
        Assert.Equal("2.5 s", Durations.FormatSeconds(2.5));
        Assert.Equal("?", Durations.FormatSeconds(double.NaN));
    }

    [Fact]
    public void UnwritableSystemFolderIsNamedBeforeSampling()
    {
        if (!Directory.Exists("/proc/self")) return; // Linux only: /proc takes no new files, even for root
        var r = CliHarness.Run("sample", "--model", fx.Teacher, "--steps", "2", "--out", "/proc/sdtt-samples.txt");
        CliHarness.AssertOneLineError(r, "--out /proc/sdtt-samples.txt: cannot write in /proc");
    }
}
