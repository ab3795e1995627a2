using System.CommandLine;
using Sdtt.Distributed;
using Sdtt.IO;
using Sdtt.Training;
using Sdtt.Workflows;
using TorchSharp;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt train --config NAME|FILE.json [--set key=value ...] --data DIR --out DIR [--resume] [--device D]</c>:
/// MDLM pre-training with the shared trainer; writes OUT/model (EMA weights), metrics.jsonl, loss.png, train_config.json
/// and checkpoints/.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = $"A shipped config ({string.Join(", ", TrainingConfig.PresetNames)}) or a JSON file; on --resume defaults to OUT/{TrainingJob.ResolvedConfigFile}" };
        var sets = new Option<string[]>("--set") { Description = "Override a field: key=value (e.g. max_steps=60, model.n_blocks=2, trainer.lr=1e-3); repeatable", AllowMultipleArgumentsPerToken = false };
        var data = new Option<string?>("--data") { Description = "A prepared token folder (sdtt prepare): manifest.json + train.bin + valid.bin" };
        var outDir = new Option<string?>("--out") { Description = "Run folder (must be empty or absent unless --resume)" };
        var resume = new Option<bool>("--resume") { Description = "Continue the run in --out from checkpoints/last.json (a run stopped before its first checkpoint starts afresh)" };
        var resumeFrom = new Option<string?>("--resume-from") { Description = "Continue from this checkpoint instead: a step of the run's checkpoints (0 = restart from step 0) or a checkpoint folder; later checkpoints are discarded" };
        var allowDataChange = new Option<bool>("--allow-data-change") { Description = "On resume, accept training data whose content differs from the checkpoint's (logged)" };
        var device = new Option<string?>("--device") { Description = "cpu, cuda, cuda:N or auto (default: the config's trainer.device)" };
        var threads = new Option<int?>("--threads") { Description = "CPU threads for libtorch (default: the config's trainer.threads, 0 = libtorch default)" };
        var print = new Option<bool>("--print-config") { Description = "Print the resolved config as JSON and exit" };
        var modelType = new Option<string?>("--model-type") { Description = "mdlm (masked diffusion, default) or ar (GPT-2 baseline with the config's width, heads, depth and length)" };
        // Verification aid (docs/distributed.md): the gradients of the first optimizer step, after the cross-rank sum, before clipping.
        var dumpGradients = new Option<string?>("--dump-gradients") { Description = "Write the first step's gradients (summed over ranks, before clipping) to FILE.safetensors", Hidden = true };
        var cmd = new Command("train", "Pre-train a masked diffusion LM (MDLM) with AdamW, warm-up, EMA, validation and resumable checkpoints")
            { config, sets, data, outDir, resume, resumeFrom, allowDataChange, device, threads, print, modelType, dumpGradients };
        cmd.SetGuardedAction(parse => RankScope.Run(world =>
        {
            var setList = parse.GetValue(sets) ?? Array.Empty<string>();
            if (parse.GetValue(print))
            {
                var c = TrainingConfig.Load(parse.GetValue(config) ?? "tiny", setList);
                Console.WriteLine(c.ToJson().ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            var dataDir = parse.GetValue(data) ?? throw new SdttException("--data DIR is required (a folder written by `sdtt prepare`)");
            var outPath = parse.GetValue(outDir) ?? throw new SdttException("--out DIR is required");
            var options = new TrainingJobOptions(parse.GetValue(config), setList, dataDir, outPath, parse.GetValue(resume), parse.GetValue(resumeFrom),
                parse.GetValue(allowDataChange), parse.GetValue(device), parse.GetValue(threads), parse.GetValue(modelType));
            using var job = TrainingJob.Prepare(options, world, m => Console.Error.WriteLine($"note: {m}"));
            if (parse.GetValue(dumpGradients) is { } dumpPath) job.GradientsReady = (m, ctx) => DumpGradients(m, ctx, dumpPath);
            Console.Error.WriteLine($"train: {job.Summary}");
            Console.Error.WriteLine($"train: {job.Estimate}");
            var result = Run(job, world, outPath, dataDir);
            var lastVal = result.Validations.Count > 0 ? result.Validations[^1] : default;
            Console.Error.WriteLine($"train: done at step {result.FinalStep}, {result.TokensPerSecond:N0} tokens/s" +
                (lastVal.Metrics is null ? "" : $", validation nll {lastVal.Metrics["nll"]:F4} (ppl ≤ {lastVal.Metrics["ppl"]:F2}, {lastVal.Metrics["bpd"]:F3} bits/token)"));
            if (result.ModelDir is not null) Console.WriteLine(result.ModelDir);
            return 0;
        }));
        return cmd;
    }

    /// <summary>Runs <paramref name="job"/> with a progress bar on a terminal (plain lines otherwise), Ctrl+C stopping at
    /// the next step with a checkpoint; a divergence becomes the one-line recovery command.</summary>
    internal static TrainingResult Run(TrainingJob job, ICommunicator world, string outPath, string dataDir)
    {
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            var opt = job.Config.Trainer;
            return CliRunner.Interactive && world.Size == 1
                ? TrainingProgressBar.Run(opt.MaxSteps, ProgressLine, progress => job.Run(progress, cts.Token))
                : job.Run(new PlainProgress(opt.LogEvery), cts.Token);
        }
        catch (TrainingDivergedException e)
        {
            throw Recovery.Explain(e, "train", "--data", dataDir, "--out", outPath);
        }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    private static void DumpGradients(torch.nn.Module model, TrainingContext ctx, string path)
    {
        if (ctx.Step != 0 || !ctx.IsWriter) return;
        var grads = model.named_parameters().Where(p => p.parameter.grad is not null)
            .Select(p => new KeyValuePair<string, torch.Tensor>(p.name, p.parameter.grad!)).ToList();
        SafeTensorsWriter.Write(path, grads);
    }

    private static string ProgressLine(TrainingProgress p) =>
        $"step {p.Step}/{p.MaxSteps} loss {p.Loss:F3}{(p.Validation is { Count: > 0 } v ? $" val {v.First().Value:F3}" : "")} {p.TokensPerSecond:N0} tok/s";

    private sealed class PlainProgress(long every) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (p.Message is not null) Console.Error.WriteLine($"train: {p.Message}");
            else if (p.Step > 0 && (p.Step % every == 0 || p.Step == p.MaxSteps))
                Console.Error.WriteLine($"train: step {p.Step}/{p.MaxSteps} loss {p.Loss:F4} lr {p.LearningRate:G3} {p.TokensPerSecond:N0} tok/s" +
                    (p.Eta is { } e ? $" ETA {Durations.Format(e)}" : ""));
        }
    }
}
