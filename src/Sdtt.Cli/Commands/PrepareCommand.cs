using System.CommandLine;
using System.Diagnostics;
using Sdtt.Data;
using Spectre.Console;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt prepare --input DIR --output DIR [--seq-len L] [--valid-fraction F] [--seed S]</c>: text folder → token files.</summary>
internal static class PrepareCommand
{
    public static Command Create()
    {
        var input = new Option<string>("--input", "-i") { Description = "Folder of .txt (one document each) and .jsonl (field \"text\") files, searched recursively", Required = true };
        var output = new Option<string>("--output", "-o") { Description = "Folder to write manifest.json, train.bin and valid.bin to", Required = true };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence L, framing included ([BOS] + L-2 tokens + [EOS])", DefaultValueFactory = _ => 1024 };
        var valid = new Option<double>("--valid-fraction") { Description = "Fraction of documents held out for validation, in [0, 1)", DefaultValueFactory = _ => 0.05 };
        var seed = new Option<int>("--seed") { Description = "Seed of the document-level train/validation split", DefaultValueFactory = _ => 0 };
        var cmd = new Command("prepare", "Tokenise a folder of text into GPT-2 token sequences (the reference's [BOS] chunk [EOS] wrapping)")
            { input, output, seqLen, valid, seed };
        cmd.SetGuardedAction(parse =>
        {
            var options = new PrepareOptions(parse.GetValue(input)!, parse.GetValue(output)!, parse.GetValue(seqLen),
                parse.GetValue(valid), parse.GetValue(seed));
            Sdtt.IO.OutputPath.RequireFolder(options.OutputDir, "--output");
            var result = Run(options);
            Report(result);
            return 0;
        });
        return cmd;
    }

    private static PrepareResult Run(PrepareOptions options)
    {
        if (!CliRunner.Interactive)
        {
            var last = Stopwatch.StartNew();
            var plain = new CallbackProgress<PrepareProgress>(p =>
            {
                if (last.Elapsed.TotalSeconds < 2 && p.FilesDone < p.FilesTotal) return;
                last.Restart();
                Console.Error.WriteLine($"prepare: {p.FilesDone}/{p.FilesTotal} files, {p.Tokens:N0} tokens, {p.Tokens / Math.Max(p.Elapsed.TotalSeconds, 1e-9):N0} tokens/s");
            });
            return CorpusPreparer.Prepare(options, plain);
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        PrepareResult? result = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new EtaColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("tokenising", maxValue: 1);
                result = CorpusPreparer.Prepare(options, new CallbackProgress<PrepareProgress>(p =>
                {
                    task.MaxValue = Math.Max(1, p.BytesTotal);
                    task.Value = p.BytesDone;
                    task.Description = $"{p.FilesDone}/{p.FilesTotal} files, {p.Tokens:N0} tokens, {p.Tokens / Math.Max(p.Elapsed.TotalSeconds, 1e-9):N0} tok/s";
                }));
                task.Value = task.MaxValue;
            });
        return result!;
    }

    private static void Report(PrepareResult r)
    {
        Console.WriteLine($"prepared {r.OutputDir}: {r.Sources.Count} files, {r.Documents:N0} documents, {r.DocumentTokens:N0} tokens in {r.Elapsed.TotalSeconds:0.0} s ({r.TokensPerSecond:N0} tokens/s)");
        foreach (var s in new[] { r.Train, r.Valid })
            if (s is not null)
                Console.WriteLine($"  {s.Name}: {s.Documents:N0} documents, {s.DocumentTokens:N0} tokens -> {s.Sequences:N0} sequences of {r.SeqLen} ({s.DroppedTokens:N0} trailing tokens dropped) in {s.File}");
    }

    private sealed class CallbackProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
