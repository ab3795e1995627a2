using System.Diagnostics;
using System.Text.Json;
using Sdtt.Data;
using Sdtt.IO;
using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Tests.Sampling;

/// <summary><c>sdtt sample</c> end to end on a tiny random GPT-2-vocabulary model folder, and the one-call
/// <see cref="DiffusionPipeline"/>.</summary>
public class SampleCommandTests : IClassFixture<SampleCommandTests.ModelFolderFixture>
{
    public sealed class ModelFolderFixture : IDisposable
    {
        public string Dir { get; } = Path.Combine(Path.GetTempPath(), "sdtt-sample-test-" + Guid.NewGuid().ToString("N")[..8]);

        public ModelFolderFixture()
        {
            using var model = SamplerTestModels.RandomDit(Gpt2Tokenizer.ModelVocabSize, 24, seed: 2, hidden: 32, blocks: 1);
            ModelFolder.SaveDit(Dir, model);
        }

        public void Dispose()
        {
            try { Directory.Delete(Dir, true); } catch (IOException) { }
        }
    }

    private readonly ModelFolderFixture _folder;
    public SampleCommandTests(ModelFolderFixture folder) => _folder = folder;

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Sdtt.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(120_000), "sdtt sample timed out");
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void SampleWritesJsonlAndCachedGivesTheSameSamples()
    {
        var outFile = Path.Combine(_folder.Dir, "samples.jsonl");
        var (code, _, err) = Cli("sample", "--model", _folder.Dir, "--steps", "6", "--num-samples", "2", "--seq-len", "12",
            "--prompt", "Hello world", "--seed", "4", "--format", "jsonl", "--out", outFile, "--top-p", "0.9", "--temperature", "0.8", "--sampler", "ancestral");
        Assert.True(code == 0, err);
        Assert.Contains("tokens/s", err);
        Assert.Contains("network calls", err);
        var lines = File.ReadAllLines(outFile);
        Assert.Equal(2, lines.Length);
        var prompt = new long[] { Gpt2Tokenizer.Bos }.Concat(Gpt2Tokenizer.Instance.Encode("Hello world").Select(i => (long)i)).ToArray();
        var samples = lines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        foreach (var s in samples)
        {
            var tokens = s.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            Assert.Equal(12, tokens.Length);
            Assert.Equal(prompt, tokens[..prompt.Length]);
            Assert.DoesNotContain((long)Gpt2Tokenizer.Mask, tokens);
            Assert.StartsWith("Hello world", s.GetProperty("text").GetString());
        }

        var (code2, stdout2, err2) = Cli("sample", "--model", _folder.Dir, "--steps", "6", "--num-samples", "2", "--seq-len", "12",
            "--prompt", "Hello world", "--seed", "4", "--format", "jsonl", "--sampler", "ancestral-cached", "--top-p", "0.9", "--temperature", "0.8");
        Assert.True(code2 == 0, err2);
        Assert.Equal(lines, stdout2.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("--steps 0", "--steps must be in 1..100,000 (got 0)")]
    [InlineData("--steps 4 --top-p 1.5", "--top-p must be in (0, 1]")]
    [InlineData("--steps 4 --seq-len 3 --prompt Hello_world_and_more", "too short for the prompt")]
    [InlineData("--steps 4 --sampler ancestral --precision f16", "--precision must be f64 or f32")]
    [InlineData("--steps 4 --precision f32", "--precision applies only to the reference samplers")]
    [InlineData("--steps 4 --sampler euler", "unknown sampler 'euler'")]
    [InlineData("--steps 4 --cached", "use --sampler ancestral-cached")]
    public void BadArgumentsGiveOneLineErrors(string args, string message)
    {
        var (code, _, err) = Cli(new[] { "sample", "--model", _folder.Dir }.Concat(SplitArgs(args)).ToArray());
        Assert.Equal(1, code);
        Assert.Contains(message, err);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static string[] SplitArgs(string args) => args.Split(' ').Select(a => a.Replace('_', ' ')).ToArray();

    [Fact]
    public void MissingModelFolderIsAOneLineError()
    {
        var (code, _, err) = Cli("sample", "--model", Path.Combine(_folder.Dir, "nope"), "--steps", "4");
        Assert.Equal(1, code);
        Assert.Contains("model folder not found", err);
    }

    [Fact]
    public void PipelineSamplesTextInOneCall()
    {
        using var pipe = DiffusionPipeline.Load(_folder.Dir);
        var output = pipe.Sample(numSamples: 3, steps: 5, seqLen: 10, prompt: "The");
        Assert.Equal(3, output.Texts.Count);
        Assert.All(output.Tokens, t => Assert.Equal(10, t.Length));
        Assert.All(output.Tokens, t => Assert.Equal(Gpt2Tokenizer.Bos, t[0]));
        Assert.All(output.Texts, t => Assert.StartsWith("The", t));
        Assert.Equal(output.Texts[0], pipe.Decode(output.Tokens[0]));
        Assert.InRange(output.Result.NetworkCalls, 1, 6);
        // the same seed again reproduces; the model's own length is the default
        Assert.Equal(output.Tokens, pipe.Sample(numSamples: 3, steps: 5, seqLen: 10, prompt: "The").Tokens);
        Assert.Equal(24, pipe.Sample(steps: 2).Tokens[0].Length);
        Assert.Throws<SdttException>(() => pipe.Sample(steps: 2, seqLen: 1, prompt: "The"));
    }
}
