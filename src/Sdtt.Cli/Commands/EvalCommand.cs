using System.CommandLine;
using System.Text.Json.Nodes;
using Sdtt.Evaluation;
using Sdtt.IO;
using Sdtt.Models;
using Sdtt.Native;
using Sdtt.Workflows;
using Spectre.Console;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt eval</c>: generative perplexity with entropy, self-BLEU, distinct-n, MAUVE, LAMBADA, multiple choice and
/// validation NELBO of one model, written as a JSON report; subcommands <c>compare</c>, <c>make-lambada</c>, <c>make-mc</c>.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Model folder: a diffusion model (config.json + model.safetensors) or a GPT-2-style AR model" };
        var judge = new Option<string?>("--judge") { Description = "AR judge folder (GPT-2 style) for genppl and MAUVE features" };
        var metrics = new Option<string>("--metrics") { Description = $"Comma-separated: {string.Join(",", EvalRunner.AllMetrics)} or all", DefaultValueFactory = _ => "genppl,entropy,selfbleu,distinct" };
        var steps = new Option<int>("--steps") { Description = "Sampling steps of the diffusion sampler", DefaultValueFactory = _ => 128 };
        var numSamples = new Option<int>("--num-samples") { Description = "Samples to generate", DefaultValueFactory = _ => 64 };
        var seqLen = new Option<int?>("--seq-len") { Description = "Sample length in tokens (default: the model length, at most 1024)" };
        var samples = new Option<string?>("--samples") { Description = "Pre-generated samples (JSONL with \"tokens\" or \"text\") instead of sampling" };
        var saveSamples = new Option<string?>("--save-samples") { Description = "Write the generated samples to this JSONL file" };
        var data = new Option<string[]>("--data") { Description = "Data files: lambada=FILE, mc=FILE, nelbo=DIR, mauve=FILE|DIR, or plain paths (kind inferred)", AllowMultipleArgumentsPerToken = true };
        var outPath = new Option<string?>("--out") { Description = "Write the JSON report here" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "auto" };
        var seed = new Option<int>("--seed") { Description = "Seed of sampling and every Monte-Carlo estimate", DefaultValueFactory = _ => 0 };
        var batch = new Option<int>("--batch-size") { Description = "Batch size of the judge, sampler and NELBO", DefaultValueFactory = _ => 8 };
        var protocol = new Option<string>("--protocol") { Description = "Generative perplexity protocol: sdtt (ids as-is, per-sample mean) or mdlm (re-tokenised, token-weighted)", DefaultValueFactory = _ => "sdtt" };
        var draws = new Option<int>("--draws") { Description = "Monte-Carlo NELBO draws for diffusion LAMBADA perplexity and multiple choice", DefaultValueFactory = _ => ContinuationNelbo.DefaultDraws };
        var limit = new Option<int>("--limit") { Description = "Evaluate at most N LAMBADA examples / MC items (0 = all)", DefaultValueFactory = _ => 0 };
        var mauveSeeds = new Option<int>("--mauve-seeds") { Description = "MAUVE seeds (mean ± std)", DefaultValueFactory = _ => 5 };
        var bleuSubset = new Option<int>("--selfbleu-subset") { Description = "Hypotheses drawn for self-BLEU", DefaultValueFactory = _ => 500 };
        var bf16 = new Option<bool>("--bf16") { Description = "Run the evaluated model with its linear layers kept in bfloat16 (the judge stays float32); the default label ends in -bf16" };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling threshold for AR models (1 = off)", DefaultValueFactory = _ => 1.0 };
        var samplerOpt = SamplerOptions.Sampler();
        var categorical = new Option<string?>("--categorical") { Description = "Reference samplers only: precision of the categorical draw, f64 (default) or f32 (the reference)" };
        var mauvePrefix = new Option<int>("--mauve-prefix") { Description = "MAUVE: 0 = unconditional samples; P > 0 = SDTT protocol (continuations of each reference's first P tokens; SDTT: 50 with --seq-len 100)", DefaultValueFactory = _ => 0 };
        var mauveCont = new Option<int>("--mauve-continuations") { Description = "Continuations per prefix in conditional MAUVE", DefaultValueFactory = _ => 5 };
        var mauveRefs = new Option<int>("--mauve-references") { Description = "Most MAUVE references (0 = automatic)", DefaultValueFactory = _ => 0 };
        var contextTokens = new Option<int>("--context-tokens") { Description = "LAMBADA / multiple choice: most tokens of [BOS] + context + continuation + 1, the same truncation for AR and diffusion models; give every compared model the same value (0 = the model's own window)", DefaultValueFactory = _ => 0 };
        var resamples = new Option<int>("--resamples") { Description = "Bootstrap resamples of every 95 % interval (seeded by --seed)", DefaultValueFactory = _ => 2000 };
        var label = new Option<string?>("--label") { Description = "Label of the model in tables and plots (default: folder name@steps)" };
        var nelboMax = new Option<int>("--nelbo-max") { Description = "At most N validation sequences for nelbo (0 = all)", DefaultValueFactory = _ => 0 };

        var cmd = new Command("eval", "Evaluate a model: gen. perplexity + entropy, self-BLEU, distinct-n, MAUVE, LAMBADA, multiple choice, NELBO")
        { model, judge, metrics, steps, numSamples, seqLen, samples, saveSamples, data, outPath, device, seed, batch, protocol, draws, limit, mauveSeeds, bleuSubset, nelboMax, topP, bf16, samplerOpt, categorical, mauvePrefix, mauveCont, mauveRefs, contextTokens, resamples, label };
        cmd.Subcommands.Add(CompareCommand());
        cmd.Subcommands.Add(ResultsCommand());
        cmd.Subcommands.Add(MakeLambadaCommand());
        cmd.Subcommands.Add(MakeMcCommand());
        cmd.SetGuardedAction(parse =>
        {
            var modelDir = parse.GetValue(model) ?? throw new SdttException("eval: --model DIR is required");
            var metricList = EvalRunner.ParseMetrics(parse.GetValue(metrics)!);
            var proto = parse.GetValue(protocol)!.ToLowerInvariant() switch
            {
                "sdtt" => GenPplProtocol.Sdtt,
                "mdlm" => GenPplProtocol.Mdlm,
                var p => throw new SdttException($"--protocol: unknown '{p}' (sdtt or mdlm)"),
            };
            var files = EvaluationJob.ParseData(parse.GetValue(data) ?? Array.Empty<string>());
            if (parse.GetValue(outPath) is { } reportPath) Sdtt.IO.OutputPath.RequireFile(reportPath, "--out");
            if (parse.GetValue(seqLen) is < 2) throw new SdttException("--seq-len must be ≥ 2");
            var samplerName = SamplerOptions.Resolve(parse.GetValue(samplerOpt));
            var nsResult = parse.GetResult(numSamples);
            var options = new EvaluationJobOptions(modelDir, new EvalSettings
            {
                Metrics = metricList, NumSamples = parse.GetValue(numSamples), SeqLen = parse.GetValue(seqLen) ?? 0,
                Steps = parse.GetValue(steps), Seed = parse.GetValue(seed), BatchSize = parse.GetValue(batch),
                Protocol = proto, SelfBleu = new SelfBleuOptions(Subset: parse.GetValue(bleuSubset), Seed: parse.GetValue(seed)),
                MauveSeeds = parse.GetValue(mauveSeeds), Draws = parse.GetValue(draws), Limit = parse.GetValue(limit),
                ContextTokens = parse.GetValue(contextTokens),
                LambadaFile = files.GetValueOrDefault("lambada"), McFile = files.GetValueOrDefault("mc"), NelboData = files.GetValueOrDefault("nelbo"),
                NelboMaxSequences = parse.GetValue(nelboMax), MauveReference = files.GetValueOrDefault("mauve") ?? files.GetValueOrDefault("nelbo"),
                MauvePrefix = parse.GetValue(mauvePrefix), MauveContinuations = parse.GetValue(mauveCont), MauveReferences = parse.GetValue(mauveRefs),
                Resamples = parse.GetValue(resamples),
            })
            {
                JudgeDir = parse.GetValue(judge), Device = parse.GetValue(device)!, TopP = parse.GetValue(topP), Sampler = samplerName,
                Precision = SamplerOptions.Precision(parse.GetValue(categorical), samplerName, "--categorical"), Bf16 = parse.GetValue(bf16),
                Label = parse.GetValue(label), SamplesPath = parse.GetValue(samples),
                SamplesLimit = nsResult is null || nsResult.Implicit ? 0 : parse.GetValue(numSamples), SaveSamples = parse.GetValue(saveSamples),
                DropUnavailable = parse.GetValue(metrics)!.Split(',').Any(m => m.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)),
            };
            var report = EvalProgress.Run(progress => EvaluationJob.Run(options, progress, m => Console.Error.WriteLine(m)));
            PrintReport(report);
            var o = parse.GetValue(outPath);
            if (o is not null) { report.Write(o); Console.Error.WriteLine($"report written to {o}"); }
            return 0;
        });
        return cmd;
    }

    static void PrintReport(EvalReport r)
    {
        var t = new Table().AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        t.Title = new TableTitle(Markup.Escape($"{r.Label} ({r.ModelKind}{(r.Steps is int s ? $", {s} steps" : "")}{(r.NumSamples is int n ? $", {n} samples" : "")})"));
        foreach (var (m, v) in r.Rows()) t.AddRow(Markup.Escape(m), Markup.Escape(v));
        AnsiConsole.Write(t);
    }

    static Command ResultsCommand()
    {
        var run = new Option<string>("--run") { Description = "A pipeline run folder (runs/quality)", Required = true };
        var outPath = new Option<string>("--out") { Description = "The page to write", DefaultValueFactory = _ => "docs/results.md" };
        var cmd = new Command("results", "Write docs/results.md from a pipeline run: the table with 95 % intervals, the plot, differences from the teacher and the paper-claim verdicts") { run, outPath };
        cmd.SetGuardedAction(parse =>
        {
            var o = parse.GetValue(outPath)!;
            Sdtt.IO.OutputPath.RequireFile(o, "--out");
            var md = ResultsDocument.Build(parse.GetValue(run)!, o);
            var dir = Path.GetDirectoryName(Path.GetFullPath(o));
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            Sdtt.IO.AtomicFile.WriteAllText(o, md);
            Console.Error.WriteLine($"results written to {o}");
            return 0;
        });
        return cmd;
    }

    static Command CompareCommand()
    {
        var reports = new Option<string[]>("--reports") { Description = "Report JSON files written by sdtt eval --out", AllowMultipleArgumentsPerToken = true, Required = true };
        var outDir = new Option<string?>("--out") { Description = "Folder for comparison.json, differences.json, comparison.md and genppl_vs_steps.png" };
        var baseline = new Option<string?>("--baseline") { Description = "Label or model-path part of the baseline report (default: the teacher — a diffusion report named teacher/mdlm — at its most steps)" };
        var marginPpl = new Option<double>("--margin-genppl") { Description = "Equivalence margin of gen. perplexity, a fraction of the baseline's", DefaultValueFactory = _ => 0.05 };
        var marginEnt = new Option<double>("--margin-entropy") { Description = "Equivalence margin of entropy, a fraction of the baseline's", DefaultValueFactory = _ => 0.02 };
        var marginAcc = new Option<double>("--margin-accuracy") { Description = "Equivalence margin of LAMBADA / multiple-choice accuracy (0.02 = 2 points)", DefaultValueFactory = _ => 0.02 };
        var resamples = new Option<int>("--resamples") { Description = "Bootstrap resamples of each difference interval", DefaultValueFactory = _ => 2000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the difference bootstrap", DefaultValueFactory = _ => 0 };
        var cmd = new Command("compare", "Lay eval reports side by side, with each report's difference from the teacher at full steps (95 % intervals, match verdicts) and a plot of gen. perplexity vs steps with entropy")
            { reports, outDir, baseline, marginPpl, marginEnt, marginAcc, resamples, seed };
        cmd.SetGuardedAction(parse =>
        {
            var margins = new EquivalenceMargins(parse.GetValue(marginPpl), parse.GetValue(marginEnt), parse.GetValue(marginAcc));
            var boot = new BootstrapOptions(parse.GetValue(resamples), parse.GetValue(seed));
            var result = ComparisonJob.Run(parse.GetValue(reports)!, parse.GetValue(outDir), parse.GetValue(baseline), margins, boot,
                m => Console.Error.WriteLine(m));
            if (CliRunner.Interactive && Console.WindowWidth >= 140)
            {
                var t = new Table();
                foreach (var c in EvalComparison.Columns) t.AddColumn(Markup.Escape(c));
                foreach (var r in result.Rows) t.AddRow(r.Select(Markup.Escape).ToArray());
                AnsiConsole.Write(t);
                if (result.Differences is not null) Console.Write(EvalDifferences.Markdown(result.Differences.ToList(), margins, boot));
            }
            else Console.Write(result.Markdown); // a wide table wraps badly in narrow terminals and logs
            return 0;
        });
        return cmd;
    }

    static Command MakeLambadaCommand()
    {
        var corpus = new Option<string>("--corpus") { Description = "Folder of .txt files", DefaultValueFactory = _ => "data/sotu" };
        var outPath = new Option<string>("--out") { Description = "Output JSONL", DefaultValueFactory = _ => "data/lambada-sotu.jsonl" };
        var count = new Option<int>("--count") { Description = "Number of passages", DefaultValueFactory = _ => 300 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0, Description = "Selection seed" };
        var cmd = new Command("make-lambada", "Build a LAMBADA-style JSONL file ({\"text\"} per line) from a text corpus") { corpus, outPath, count, seed };
        cmd.SetGuardedAction(parse =>
        {
            var docs = CorpusSentences.Read(parse.GetValue(corpus)!);
            var texts = LambadaBuilder.Build(docs, new LambadaBuildOptions(Count: parse.GetValue(count), Seed: parse.GetValue(seed)));
            LambadaBuilder.Write(parse.GetValue(outPath)!, texts);
            Console.WriteLine($"{texts.Count} passages written to {parse.GetValue(outPath)} ({new FileInfo(parse.GetValue(outPath)!).Length / 1024.0:F1} KiB)");
            return 0;
        });
        return cmd;
    }

    static Command MakeMcCommand()
    {
        var corpus = new Option<string>("--corpus") { Description = "Folder of .txt files", DefaultValueFactory = _ => "data/sotu" };
        var outPath = new Option<string>("--out") { Description = "Output JSONL", DefaultValueFactory = _ => "data/mc-sotu.jsonl" };
        var count = new Option<int>("--count") { Description = "Number of items", DefaultValueFactory = _ => 150 };
        var choices = new Option<int>("--choices") { Description = "Choices per item", DefaultValueFactory = _ => 4 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0, Description = "Selection seed" };
        var cmd = new Command("make-mc", "Build a demo multiple-choice JSONL (which sentence continues the passage) from a text corpus") { corpus, outPath, count, choices, seed };
        cmd.SetGuardedAction(parse =>
        {
            if (parse.GetValue(choices) < 2) throw new SdttException("--choices must be ≥ 2");
            var docs = CorpusSentences.Read(parse.GetValue(corpus)!);
            var items = MultipleChoiceBuilder.Build(docs, new MultipleChoiceBuildOptions(parse.GetValue(count), parse.GetValue(choices), Seed: parse.GetValue(seed)));
            MultipleChoiceBuilder.Write(parse.GetValue(outPath)!, items);
            Console.WriteLine($"{items.Count} items written to {parse.GetValue(outPath)} ({new FileInfo(parse.GetValue(outPath)!).Length / 1024.0:F1} KiB)");
            return 0;
        });
        return cmd;
    }
}
