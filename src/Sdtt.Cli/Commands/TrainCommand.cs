using System.CommandLine;
using System.Text.Json.Nodes;
using Sdtt.Data;
using Sdtt.Diffusion;
using Sdtt.Distributed;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Training;
using Spectre.Console;
using TorchSharp;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt train --config NAME|FILE.json [--set key=value ...] --data DIR --out DIR [--resume] [--device D]</c>:
/// MDLM pre-training with the shared trainer; writes OUT/model (EMA weights), metrics.jsonl, loss.png, train_config.json
/// and checkpoints/.</summary>
internal static class TrainCommand
{
    /// <summary>Resolved config file written into the run folder.</summary>
    public const string ResolvedConfigFile = "train_config.json";

    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = $"A shipped config ({string.Join(", ", TrainingConfig.PresetNames)}) or a JSON file; on --resume defaults to OUT/{ResolvedConfigFile}" };
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
            var cfgName = parse.GetValue(config);
            var outPath = parse.GetValue(outDir);
            string? from = parse.GetValue(resumeFrom);
            bool isResume = parse.GetValue(resume) || from is not null;
            if (parse.GetValue(print))
            {
                var c = TrainingConfig.Load(cfgName ?? "tiny", setList);
                Console.WriteLine(c.ToJson().ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            var dataDir = parse.GetValue(data) ?? throw new SdttException("--data DIR is required (a folder written by `sdtt prepare`)");
            if (outPath is null) throw new SdttException("--out DIR is required");
            // Everything is checked before anything is written, so a rejected run leaves no folder behind.
            OutputPath.RequireFolder(outPath);
            var state = RunFolder.Inspect(outPath, ResolvedConfigFile);
            if (isResume && state is RunFolderState.Resumable or RunFolderState.Unstarted) cfgName ??= Path.Combine(outPath, ResolvedConfigFile);
            if (cfgName is null)
                throw new SdttException(isResume ? $"{outPath}: --resume found no checkpoint ({Trainer.CheckpointsDirName}/{CheckpointStore.LastFile} is missing) and no {ResolvedConfigFile}; start a new run with --config"
                                                 : "--config NAME|FILE.json is required");
            if (state is RunFolderState.Foreign || (state is RunFolderState.Resumable && !isResume) || (state is RunFolderState.Empty && isResume)
                || (state is RunFolderState.Unstarted && from is not null && from.Trim() != "0"))
                RunFolder.Prepare(outPath, ResolvedConfigFile, isResume, from, "train", _ => { }); // throws the matching one-line error
            var cfg = TrainingConfig.Load(cfgName, setList);
            var opt = cfg.Trainer;
            if (parse.GetValue(device) is { } dev) opt = opt with { Device = dev };
            if (parse.GetValue(threads) is { } th) opt = opt with { Threads = th };
            opt = opt with { Threads = RankScope.ThreadsPerRank(world, opt.Threads) };
            TorchRuntime.EnsureLoaded();
            if (opt.Threads > 0) torch.set_num_threads(opt.Threads);
            var torchDevice = TorchRuntime.ResolveDevice(opt.Device);
            opt = opt with { Device = torchDevice.ToString() };
            using var train = TokenDataset.Open(dataDir, "train");
            using var valid = TokenDataset.Open(dataDir, "valid");
            var modelCfg = cfg.Model;
            if (modelCfg.ModelLength != train.SeqLen)
            {
                Console.Error.WriteLine($"note: model.length {modelCfg.ModelLength} → {train.SeqLen} (the data's sequence length)");
                modelCfg = modelCfg with { ModelLength = train.SeqLen };
            }
            int maxId = 0;
            if (modelCfg.VocabSize < Gpt2Tokenizer.ModelVocabSize) maxId = CheckVocabulary(train, modelCfg.VocabSize);
            cfg = cfg with { Model = modelCfg, Trainer = opt.Validate() };
            DataParallelPlan.For(world, opt.GlobalBatch, opt.MicroBatch);
            bool isAr = ArTrainSupport.IsAr(parse.GetValue(modelType), outPath, isResume);
            world.Barrier(); // every rank has checked the run folder before rank 0 writes into it
            // Rank 0 prepares the folder (clearing an unstarted run's files); the others take the same decision from the
            // state they inspected (every refusal was raised above, on all ranks alike).
            isResume = world.IsRoot()
                ? RunFolder.Prepare(outPath, ResolvedConfigFile, isResume, from, "train", m => Console.Error.WriteLine($"note: {m}"))
                : state is RunFolderState.Resumable;
            Directory.CreateDirectory(outPath);
            if (world.IsRoot()) ModelFolder.WriteJsonAtomic(Path.Combine(outPath, ResolvedConfigFile), cfg.ToJson());

            torch.random.manual_seed(opt.Seed);
            using ITrainingObjective objective = isAr ? ArTrainSupport.Objective(modelCfg, torchDevice, outPath, world.IsRoot()) : NewMdlm(modelCfg, torchDevice, cfg.Mdlm);
            Console.Error.WriteLine($"train: {objective.Name}, {(isAr ? ArTrainSupport.Config(modelCfg).ParameterCount : modelCfg.ParameterCount):N0} parameters (D {modelCfg.HiddenSize}, {modelCfg.NBlocks} blocks), " +
                $"{train.Count:N0} train / {valid.Count:N0} valid sequences of {train.SeqLen}, global batch {opt.GlobalBatch} " +
                $"({(world.Size > 1 ? $"{world.Size} ranks × " : "")}{opt.Accumulation / world.Size}×{opt.MicroBatch}), {opt.MaxSteps:N0} steps, lr {opt.Lr:G3} (warm-up {opt.WarmupSteps}), " +
                $"{(opt.Bf16 ? "bf16" : "fp32")} on {torchDevice}, {torch.get_num_threads()} threads");
            double perStep = TrainingCost.StepSeconds(modelCfg, (long)opt.GlobalBatch * train.SeqLen, 3, opt.Bf16, torchDevice);
            Console.Error.WriteLine($"train: estimated ~{Durations.FormatSeconds(perStep)} per step, ETA {Durations.FormatSeconds(perStep * opt.MaxSteps)} for {opt.MaxSteps:N0} steps");

            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            TrainingResult result;
            Action<torch.nn.Module, TrainingContext>? dump = parse.GetValue(dumpGradients) is { } dumpPath ? (m, ctx) => DumpGradients(m, ctx, dumpPath) : null;
            Trainer NewTrainer(IProgress<TrainingProgress>? p) =>
                new(objective, opt, train, valid, outPath, world.IsRoot() ? p : null)
                {
                    Communicator = world, GradientsReady = dump,
                    ResumeFrom = isResume ? from : null, AllowDataChange = parse.GetValue(allowDataChange),
                };
            try
            {
                result = CliRunner.Interactive && world.Size == 1
                    ? TrainingProgressBar.Run(opt.MaxSteps, ProgressLine, progress => NewTrainer(progress).Run(isResume, cts.Token))
                    : NewTrainer(new PlainProgress(opt.LogEvery)).Run(isResume, cts.Token);
            }
            catch (TrainingDivergedException e)
            {
                throw Recovery.Explain(e, "train", "--data", dataDir, "--out", outPath);
            }
            finally { Console.CancelKeyPress -= onCancel; }

            var lastVal = result.Validations.Count > 0 ? result.Validations[^1] : default;
            Console.Error.WriteLine($"train: done at step {result.FinalStep}, {result.TokensPerSecond:N0} tokens/s" +
                (lastVal.Metrics is null ? "" : $", validation nll {lastVal.Metrics["nll"]:F4} (ppl ≤ {lastVal.Metrics["ppl"]:F2}, {lastVal.Metrics["bpd"]:F3} bits/token)"));
            if (result.ModelDir is not null) Console.WriteLine(result.ModelDir);
            return 0;
        }));
        return cmd;
    }

    private static void DumpGradients(torch.nn.Module model, TrainingContext ctx, string path)
    {
        if (ctx.Step != 0 || !ctx.IsWriter) return;
        var grads = model.named_parameters().Where(p => p.parameter.grad is not null)
            .Select(p => new KeyValuePair<string, torch.Tensor>(p.name, p.parameter.grad!)).ToList();
        SafeTensorsWriter.Write(path, grads);
    }

    private static ITrainingObjective NewMdlm(DitConfig modelCfg, torch.Device device, MdlmOptions options)
    {
        var model = new Dit(modelCfg);
        if (!device.type.Equals(DeviceType.CPU)) model.to(device);
        return new MdlmObjective(model, options, ownsModel: true);
    }

    private static int CheckVocabulary(TokenDataset train, int vocab)
    {
        var buf = new long[train.SeqLen];
        int max = 0;
        for (long i = 0; i < Math.Min(train.Count, 256); i++)
        {
            train.Read(i, buf);
            foreach (var t in buf) max = Math.Max(max, (int)t);
        }
        if (max >= vocab - 1) throw new SdttException($"the data holds token id {max}, which does not fit model.vocab_size {vocab} (ids must be < {vocab - 1}, the last id is MASK)");
        return max;
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
