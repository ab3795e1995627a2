using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Sdtt.Data;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Sampling;
using Spectre.Console;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt sample --model DIR --steps N ...</c>: draws samples from a model folder with a named sampler (default reveal-first),
/// prints them (text or JSONL), shows progress on stderr and reports tokens/s and network calls.</summary>
internal static class SampleCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder (config.json + model.safetensors)", Required = true };
        var steps = new Option<int>("--steps") { Description = "Number of ancestral steps N (≥ 1)", Required = true };
        var numSamples = new Option<int>("--num-samples") { Description = "Samples to draw (batch size)", DefaultValueFactory = _ => 1 };
        var seqLen = new Option<int?>("--seq-len") { Description = "Tokens per sample (default: the model's length)" };
        var prompt = new Option<string?>("--prompt") { Description = "Prompt text; samples start with [BOS] + its GPT-2 tokens" };
        var seed = new Option<long>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 0 };
        var sampler = SamplerOptions.Sampler();
        var cached = new Option<bool>("--cached") { Description = "Replaced by --sampler ancestral-cached", Hidden = true };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling threshold in (0, 1]; 1 = off", DefaultValueFactory = _ => 1.0 };
        var temperature = new Option<double>("--temperature") { Description = "Temperature > 0; 1 = the model's distribution", DefaultValueFactory = _ => 1.0 };
        var precision = new Option<string?>("--precision") { Description = "Reference samplers only: categorical draw precision, f64 (default) or f32 (the reference)" };
        var bf16 = new Option<bool>("--bf16") { Description = "Run linear layers and attention in bfloat16" };
        var format = new Option<string>("--format") { Description = "Output format: text or jsonl", DefaultValueFactory = _ => "text" };
        var output = new Option<string?>("--out") { Description = "Write the samples to this file instead of stdout" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "cpu" };
        var cmd = new Command("sample", "Generate text with a diffusion model (samplers: reveal-first, ancestral, ancestral-cached)")
        {
            model, steps, numSamples, seqLen, prompt, seed, sampler, cached, topP, temperature, precision, bf16, format, output, device,
        };
        cmd.SetGuardedAction(parse =>
        {
            string dir = parse.GetValue(model)!;
            int n = parse.GetValue(steps);
            int b = parse.GetValue(numSamples);
            double p = parse.GetValue(topP), temp = parse.GetValue(temperature);
            string fmt = parse.GetValue(format)!.Trim().ToLowerInvariant();
            string? outPath = parse.GetValue(output);
            if (parse.GetValue(cached)) throw new SdttException("--cached is now the sampler 'ancestral-cached': use --sampler ancestral-cached");
            var samplerName = SamplerOptions.Resolve(parse.GetValue(sampler));
            var prec = SamplerOptions.Precision(parse.GetValue(precision), samplerName, "--precision");
            new SamplingOptions { TopP = p, Temperature = temp }.CheckSettings("--"); // the sampler's own checks, before the model loads
            if (fmt is not ("text" or "jsonl")) throw new SdttException($"--format must be text or jsonl (got '{fmt}')");
            if (outPath is not null && Path.GetDirectoryName(Path.GetFullPath(outPath)) is { } od && !Directory.Exists(od) && !File.Exists(od))
                throw new SdttException($"--out {outPath}: folder {od} does not exist");
            if (outPath is not null) OutputPath.RequireFile(outPath);
            var (len, promptTokens) = DiffusionPipeline.CheckRequest(dir, n, b, parse.GetValue(seqLen), parse.GetValue(prompt)); // before the model loads

            TorchRuntime.EnsureLoaded();
            using var pipe = DiffusionPipeline.Load(dir, parse.GetValue(device)!, parse.GetValue(bf16));

            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            var options = new SamplingOptions
            {
                Steps = n, NumSamples = b, SeqLen = len, Seed = parse.GetValue(seed),
                Precision = prec, Temperature = temp, TopP = p, Prompt = promptTokens, Cancellation = cts.Token,
            };
            PipelineOutput result;
            try { result = RunWithProgress(pipe, options, samplerName); }
            finally { Console.CancelKeyPress -= onCancel; }

            var sb = new StringBuilder();
            for (int i = 0; i < result.Texts.Count; i++)
            {
                if (fmt == "jsonl")
                    sb.Append(JsonSerializer.Serialize(new { index = i, tokens = result.Tokens[i], text = result.Texts[i] })).Append('\n');
                else
                    sb.Append($"=== sample {i} ===\n").Append(result.Texts[i]).Append('\n');
            }
            if (outPath is null) Console.Out.Write(sb.ToString());
            else AtomicFile.WriteAllText(outPath, sb.ToString());
            var r = result.Result;
            Console.Error.WriteLine(
                $"sampled {r.NumSamples}×{r.SeqLen} tokens in {r.Elapsed.TotalSeconds:0.00} s: {r.TokensPerSecond:0.0} tokens/s, " +
                $"{r.NetworkCalls} network calls for {r.Steps} steps ({samplerName})" +
                $"{(r.FillApplied ? ", greedy fill applied" : "")}{(outPath is null ? "" : $"; written to {outPath}")}");
            return 0;
        });
        return cmd;
    }

    /// <summary>Runs the sampler with a progress bar (interactive) or periodic plain lines (logs) on stderr.</summary>
    private static PipelineOutput RunWithProgress(DiffusionPipeline pipe, SamplingOptions options, string sampler)
    {
        int n = options.Steps;
        long total = (long)options.NumSamples * options.SeqLen;
        string Eta(SamplingStep s) => s.Step < 0 ? "?" : Durations.FormatSeconds(s.Elapsed.TotalSeconds / (s.Step + 1) * Math.Max(0, n - s.Step - 1));
        if (CliRunner.Interactive)
        {
            PipelineOutput? output = null;
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new EtaColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("sampling", maxValue: n);
                    output = pipe.Sample(options.NumSamples, n, options.SeqLen, sampler: sampler, options: options with
                    {
                        OnStep = s =>
                        {
                            if (s.Step < 0 || s.IsFill) return;
                            task.Value = s.Step + 1;
                            double done = total - s.MasksLeft;
                            task.Description = $"step {s.Step + 1}/{n}  masks left {s.MasksLeft}  {done / Math.Max(1e-9, s.Elapsed.TotalSeconds):0} tok/s";
                        },
                    });
                    task.Value = n;
                });
            return output!;
        }
        var last = Stopwatch.StartNew();
        return pipe.Sample(options.NumSamples, n, options.SeqLen, sampler: sampler, options: options with
        {
            OnStep = s =>
            {
                if (s.Step < 0) return;
                bool final = s.Step >= n - 1;
                if (!final && last.Elapsed.TotalSeconds < 2) return;
                last.Restart();
                Console.Error.WriteLine(s.IsFill
                    ? $"greedy fill of the last masks ({s.Elapsed.TotalSeconds:0.0} s)"
                    : $"step {s.Step + 1}/{n}  masks left {s.MasksLeft}  elapsed {s.Elapsed.TotalSeconds:0.0} s  ETA {Eta(s)}");
            },
        });
    }
}
