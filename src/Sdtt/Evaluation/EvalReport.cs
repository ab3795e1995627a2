using System.Text.Json;
using System.Text.Json.Serialization;
using Sdtt.IO;

namespace Sdtt.Evaluation;

/// <summary>Generative perplexity in a report.</summary>
public sealed record GenPplSection(string Protocol, double Perplexity, double MeanNll, int Samples, long Tokens, string Judge);

/// <summary>Self-BLEU in a report.</summary>
public sealed record SelfBleuSection(double Score, int Hypotheses, int References, int MaxOrder, string Smoothing, int Seed);

/// <summary>MAUVE in a report (Prefix = 0: unconditional samples; else prefix-conditioned continuations per reference).</summary>
public sealed record MauveSection(double Mean, double Std, double[] Scores, int[] Seeds, int Buckets, int PcaComponents, int NumReference, int NumModel,
    double ScalingFactor, string Reference, int Prefix = 0, int Continuations = 0);

/// <summary>LAMBADA in a report.</summary>
public sealed record LambadaSection(string Kind, double Accuracy, double Perplexity, double MeanWordNll, int Examples, int Draws, string File);

/// <summary>Multiple choice in a report.</summary>
public sealed record MultipleChoiceSection(string Kind, double Accuracy, double AccuracyNorm, int Items, int Draws, string File);

/// <summary>Validation NELBO in a report.</summary>
public sealed record NelboSection(double Nll, double Perplexity, double BitsPerToken, long Sequences, long Tokens, string Data);

/// <summary>The JSON report of <c>sdtt eval</c>: what was evaluated, how, and every requested metric (null = not run).
/// Log-likelihoods and entropies are in nats.</summary>
public sealed record EvalReport
{
    /// <summary>Model folder.</summary>
    public string Model { get; init; } = "";
    /// <summary>"diffusion" or "ar".</summary>
    public string ModelKind { get; init; } = "";
    /// <summary>A short label for tables and plots (defaults to the folder name, plus the step count).</summary>
    public string Label { get; init; } = "";
    /// <summary>Judge folder (genppl, MAUVE features).</summary>
    public string? Judge { get; init; }
    /// <summary>Sampling steps (diffusion samples), null for AR or pre-generated samples.</summary>
    public int? Steps { get; init; }
    /// <summary>Number of samples scored.</summary>
    public int? NumSamples { get; init; }
    /// <summary>Sample length in tokens.</summary>
    public int? SeqLen { get; init; }
    /// <summary>Where samples came from ("sampler" or a file).</summary>
    public string? Samples { get; init; }
    /// <summary>Seed of sampling and every stochastic estimate.</summary>
    public int Seed { get; init; }
    /// <summary>Device used.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>UTC time of the run (ISO 8601).</summary>
    public string CreatedUtc { get; init; } = "";
    /// <summary>Generative perplexity.</summary>
    public GenPplSection? GenPpl { get; init; }
    /// <summary>Mean unigram entropy of the samples (nats).</summary>
    public double? Entropy { get; init; }
    /// <summary>Self-BLEU.</summary>
    public SelfBleuSection? SelfBleu { get; init; }
    /// <summary>distinct-1..4.</summary>
    public double[]? Distinct { get; init; }
    /// <summary>MAUVE.</summary>
    public MauveSection? Mauve { get; init; }
    /// <summary>LAMBADA.</summary>
    public LambadaSection? Lambada { get; init; }
    /// <summary>Multiple choice.</summary>
    public MultipleChoiceSection? MultipleChoice { get; init; }
    /// <summary>Validation NELBO.</summary>
    public NelboSection? Nelbo { get; init; }
    /// <summary>Wall-clock seconds per stage.</summary>
    public Dictionary<string, double> Seconds { get; init; } = new();

    /// <summary>A short name for a model folder: its last component, or "parent/model" when the folder is just "model"
    /// (the layout of training runs).</summary>
    public static string ShortName(string path)
    {
        var full = Path.TrimEndingDirectorySeparator(path);
        var name = Path.GetFileName(full);
        if (name is "model" or "")
        {
            var parent = Path.GetFileName(Path.GetDirectoryName(full) ?? "");
            if (!string.IsNullOrEmpty(parent)) return $"{parent}/{(name == "" ? full : name)}";
        }
        return name.Length > 0 ? name : path;
    }

    /// <summary>JSON options of reports (snake_case, indented, nulls omitted).</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes the report atomically.</summary>
    public void Write(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        var tmp = path + ".sdtt-tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(this, JsonOptions));
        File.Move(tmp, path, true);
    }

    /// <summary>Reads a report.</summary>
    public static EvalReport Read(string path)
    {
        if (!File.Exists(path)) throw new SdttException($"{path}: report not found");
        try { return JsonSerializer.Deserialize<EvalReport>(File.ReadAllText(path), JsonOptions) ?? throw new SdttException($"{path}: empty report"); }
        catch (JsonException e) { throw new SdttException($"{path}: not an eval report ({e.Message.Split('\n')[0]})"); }
    }

    /// <summary>(metric, value) rows for a table, in a fixed order; only metrics that ran.</summary>
    public IEnumerable<(string Metric, string Value)> Rows()
    {
        if (GenPpl is not null) yield return ($"gen. perplexity ({GenPpl.Protocol})", $"{GenPpl.Perplexity:F2}");
        if (Entropy is not null) yield return ("unigram entropy (nats)", $"{Entropy:F3}");
        if (SelfBleu is not null) yield return ("self-BLEU-4", $"{SelfBleu.Score:F4}");
        if (Distinct is not null) for (int i = 0; i < Distinct.Length; i++) yield return ($"distinct-{i + 1}", $"{Distinct[i]:F4}");
        if (Mauve is not null) yield return ("MAUVE", $"{Mauve.Mean:F4} ± {Mauve.Std:F4}");
        if (Lambada is not null)
        {
            yield return ("LAMBADA accuracy", $"{Lambada.Accuracy:P2}");
            yield return ("LAMBADA perplexity", $"{Lambada.Perplexity:F2}");
        }
        if (MultipleChoice is not null)
        {
            yield return ("multiple-choice acc", $"{MultipleChoice.Accuracy:P2}");
            yield return ("multiple-choice acc_norm", $"{MultipleChoice.AccuracyNorm:P2}");
        }
        if (Nelbo is not null) yield return ("valid NELBO ppl (≤)", $"{Nelbo.Perplexity:F2}");
    }
}
