using System.Text.RegularExpressions;
using Sdtt.Models;

namespace Sdtt.IO;

/// <summary>Compares a model folder's config.json with the shapes in its model.safetensors header (no tensor is read):
/// hidden size, vocabulary, depth, MLP width and (GPT) positions. Used by <c>sdtt info</c>, which fails when they disagree.</summary>
public static partial class WeightsCheck
{
    /// <summary>The disagreements of a diffusion folder (empty when consistent). A missing weights file is one.</summary>
    public static IReadOnlyList<string> Dit(string dir, DitConfig cfg)
    {
        var file = Path.Combine(dir, ModelFolder.WeightsFile);
        if (!File.Exists(file)) return new[] { $"no {ModelFolder.WeightsFile}" };
        using var f = new SafeTensorsFile(file);
        var map = ModelFolder.NormalizeDitKey(f.Entries.Keys);
        var shapes = f.Entries.Values.Select(e => (Key: map(e.Name), e.Shape)).Where(x => x.Key is not null).ToDictionary(x => x.Key!, x => x.Shape);
        var problems = new List<string>();
        Expect(problems, shapes, "vocab_embed.embedding", new long[] { cfg.VocabSize, cfg.HiddenSize }, "vocabulary × hidden size");
        Expect(problems, shapes, "output_layer.linear.weight", new long[] { cfg.VocabSize, cfg.HiddenSize }, "vocabulary × hidden size");
        Expect(problems, shapes, "blocks.0.mlp.0.weight", new long[] { cfg.MlpHidden, cfg.HiddenSize }, "MLP width × hidden size");
        Depth(problems, shapes.Keys, BlockIndex(), cfg.NBlocks, "blocks");
        return problems;
    }

    /// <summary>The disagreements of an autoregressive (GPT-2) folder.</summary>
    public static IReadOnlyList<string> Gpt(string dir, GptConfig cfg)
    {
        var file = Path.Combine(dir, ModelFolder.WeightsFile);
        if (!File.Exists(file)) return new[] { $"no {ModelFolder.WeightsFile}" };
        using var f = new SafeTensorsFile(file);
        var shapes = f.Entries.Values.Select(e => (Key: GptModelFolder.NormalizeKey(e.Name, cfg), e.Shape)).Where(x => x.Key is not null)
            .GroupBy(x => x.Key!).ToDictionary(g => g.Key, g => g.First().Shape);
        var problems = new List<string>();
        Expect(problems, shapes, "wte.weight", new long[] { cfg.VocabSize, cfg.HiddenSize }, "vocabulary × hidden size");
        Expect(problems, shapes, "wpe.weight", new long[] { cfg.NPositions, cfg.HiddenSize }, "positions × hidden size");
        Depth(problems, shapes.Keys, LayerIndex(), cfg.NLayers, "layers");
        return problems;
    }

    private static void Expect(List<string> problems, Dictionary<string, long[]> shapes, string key, long[] want, string what)
    {
        if (!shapes.TryGetValue(key, out var got)) { problems.Add($"{key} is missing"); return; }
        if (!got.SequenceEqual(want))
            problems.Add($"{key} is [{string.Join(", ", got)}], config.json implies [{string.Join(", ", want)}] ({what})");
    }

    private static void Depth(List<string> problems, IEnumerable<string> keys, Regex index, int want, string what)
    {
        var found = keys.Select(k => index.Match(k)).Where(m => m.Success).Select(m => int.Parse(m.Groups[1].Value)).DefaultIfEmpty(-1).Max() + 1;
        if (found != want) problems.Add($"the weights hold {found} {what}, config.json says {want}");
    }

    [GeneratedRegex(@"^blocks\.(\d+)\.")]
    private static partial Regex BlockIndex();
    [GeneratedRegex(@"^h\.(\d+)\.")]
    private static partial Regex LayerIndex();
}
