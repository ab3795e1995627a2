using System.CommandLine;
using Sdtt.IO;
using Sdtt.Models;
using Spectre.Console;

namespace Sdtt.Cli.Commands;

/// <summary><c>sdtt info MODEL_DIR</c> or <c>sdtt info --config NAME</c>: the configuration and exact parameter count.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var dir = new Argument<string?>("model-dir") { Description = "An HF-style model folder (config.json + model.safetensors)", Arity = ArgumentArity.ZeroOrOne };
        var config = new Option<string?>("--config") { Description = "A shipped size (tiny, demo, small, medium, large, xl) or a config.json file" };
        var cmd = new Command("info", "Print a model's configuration and exact parameter count") { dir, config };
        cmd.SetGuardedAction(parse =>
        {
            var d = parse.GetValue(dir);
            var c = parse.GetValue(config);
            if ((d is null) == (c is null)) throw new SdttException("give either a model folder or --config NAME");
            DitConfig cfg;
            string source;
            IReadOnlyDictionary<string, SafeTensorInfo>? entries = null;
            if (d is not null && GptModelFolder.IsGptFolder(d)) return PrintGpt(d);
            if (d is not null)
            {
                cfg = ModelFolder.ReadDitConfig(d);
                source = d;
                var w = Path.Combine(d, ModelFolder.WeightsFile);
                if (File.Exists(w)) { using var f = new SafeTensorsFile(w); entries = f.Entries; }
            }
            else
            {
                cfg = File.Exists(c) ? DitConfig.FromJson(File.ReadAllText(c!), c!) : DitConfig.FromName(c!);
                source = c!;
            }
            var table = new Table().AddColumn("field").AddColumn("value");
            table.AddRow("source", Markup.Escape(source));
            table.AddRow("hidden size", cfg.HiddenSize.ToString());
            table.AddRow("heads", $"{cfg.NHeads} (head dim {cfg.HeadDim})");
            table.AddRow("blocks", cfg.NBlocks.ToString());
            table.AddRow("MLP width", cfg.MlpHidden.ToString());
            table.AddRow("cond dim", cfg.CondDim.ToString());
            table.AddRow("vocabulary", $"{cfg.VocabSize} (mask id {cfg.MaskIndex})");
            table.AddRow("model length", cfg.ModelLength.ToString());
            table.AddRow("dropout", cfg.Dropout.ToString("0.###"));
            table.AddRow("time conditioning", cfg.TimeConditioning ? "on" : "off");
            table.AddRow("parameters", $"{cfg.ParameterCount:N0}");
            table.AddRow("fp32 size", $"{cfg.ParameterCount * 4 / 1e6:N1} MB");
            if (entries is not null)
            {
                var dtypes = string.Join(", ", entries.Values.GroupBy(e => e.DType).Select(g => $"{g.Key}×{g.Count()}"));
                table.AddRow("weights file", $"{entries.Count} tensors ({dtypes})");
            }
            AnsiConsole.Write(table);
            Console.WriteLine($"parameters: {cfg.ParameterCount}");
            if (d is not null) Verify(d, WeightsCheck.Dit(d, cfg));
            return 0;
        });
        return cmd;
    }

    /// <summary>An autoregressive (GPT-2 layout) folder, as written by <c>sdtt train --model-type ar</c> or from the hub.</summary>
    private static int PrintGpt(string dir)
    {
        var cfg = GptModelFolder.ReadConfig(dir);
        var table = new Table().AddColumn("field").AddColumn("value");
        table.AddRow("source", Markup.Escape(dir));
        table.AddRow("architecture", "GPT-2 (causal, learned positions, pre-LN)");
        table.AddRow("hidden size", cfg.HiddenSize.ToString());
        table.AddRow("heads", $"{cfg.NHeads} (head dim {cfg.HeadDim})");
        table.AddRow("layers", cfg.NLayers.ToString());
        table.AddRow("positions", cfg.NPositions.ToString());
        table.AddRow("vocabulary", cfg.VocabSize.ToString());
        table.AddRow("tied head", cfg.TieWordEmbeddings ? "yes" : "no");
        table.AddRow("parameters", $"{cfg.ParameterCount:N0}");
        AnsiConsole.Write(table);
        Console.WriteLine($"parameters: {cfg.ParameterCount}");
        Verify(dir, WeightsCheck.Gpt(dir, cfg));
        return 0;
    }

    /// <summary>A folder whose weights do not match its config.json is an error (exit 1), after the table.</summary>
    private static void Verify(string dir, IReadOnlyList<string> problems)
    {
        if (problems.Count == 1 && problems[0].StartsWith("no ")) throw new SdttException($"{dir}: {problems[0]} (the weights are missing)");
        if (problems.Count > 0)
            throw new SdttException($"{dir}: config.json and {ModelFolder.WeightsFile} disagree: {string.Join("; ", problems)}");
    }
}
