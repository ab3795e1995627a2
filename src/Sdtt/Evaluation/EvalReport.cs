using System.Text.Json;
using System.Text.Json.Serialization;
using Sdtt.IO;

namespace Sdtt.Evaluation;

/// <summary>Generative perplexity in a report.</summary>
public sealed record GenPplSection(string Protocol, double Perplexity, double MeanNll, int Samples, long Tokens, string Judge)
{
    /// <summary>95 % bootstrap interval of the perplexity (over samples; token-weighted ratio for mdlm).</summary>
    public Interval? PerplexityCi { get; init; }
}

/// <summary>Self-BLEU in a report.</summary>
public sealed record SelfBleuSection(double Score, int Hypotheses, int References, int MaxOrder, string Smoothing, int Seed)
{
    /// <summary>95 % bootstrap interval over the per-hypothesis BLEU scores (each computed once against the whole set).</summary>
    public Interval? ScoreCi { get; init; }
}

/// <summary>MAUVE in a report (Prefix = 0: unconditional samples; else prefix-conditioned continuations per reference).</summary>
public sealed record MauveSection(double Mean, double Std, double[] Scores, int[] Seeds, int Buckets, int PcaComponents, int NumReference, int NumModel,
    double ScalingFactor, string Reference, int Prefix = 0, int Continuations = 0)
{
    /// <summary>Smallest and largest score over the seeds (the spread MAUVE reports instead of a bootstrap interval).</summary>
    public Interval? Range { get; init; }
}

/// <summary>LAMBADA in a report.</summary>
public sealed record LambadaSection(string Kind, double Accuracy, double Perplexity, double MeanWordNll, int Examples, int Draws, string File)
{
    /// <summary>95 % bootstrap interval of the accuracy (over examples).</summary>
    public Interval? AccuracyCi { get; init; }
    /// <summary>95 % bootstrap interval of the per-word perplexity (exp of the mean word NLL's interval).</summary>
    public Interval? PerplexityCi { get; init; }
    /// <summary>Most tokens of [BOS] + context + word + EOS slot; the oldest context tokens beyond it are dropped, the same
    /// way for AR and diffusion models.</summary>
    public int? ContextTokens { get; init; }
    /// <summary>Examples whose context was cut to fit <see cref="ContextTokens"/>.</summary>
    public int? Truncated { get; init; }
}

/// <summary>Multiple choice in a report.</summary>
public sealed record MultipleChoiceSection(string Kind, double Accuracy, double AccuracyNorm, int Items, int Draws, string File)
{
    /// <summary>95 % bootstrap interval of the accuracy (over items).</summary>
    public Interval? AccuracyCi { get; init; }
    /// <summary>95 % bootstrap interval of the length-normalised accuracy.</summary>
    public Interval? AccuracyNormCi { get; init; }
    /// <summary>Context limit, as in <see cref="LambadaSection.ContextTokens"/>.</summary>
    public int? ContextTokens { get; init; }
    /// <summary>Choices whose context was cut.</summary>
    public int? Truncated { get; init; }
}

/// <summary>Validation NELBO in a report.</summary>
public sealed record NelboSection(double Nll, double Perplexity, double BitsPerToken, long Sequences, long Tokens, string Data)
{
    /// <summary>95 % bootstrap interval of the NLL bound (nats per token, over sequences).</summary>
    public Interval? NllCi { get; init; }
    /// <summary>The same interval as a perplexity bound.</summary>
    public Interval? PerplexityCi { get; init; }
}

/// <summary>Per-item scores behind the summaries, kept so that <c>sdtt eval compare</c> can bootstrap differences between
/// reports (paired where both models saw the same items). Arrays are in item order; null where the metric did not run.</summary>
public sealed record ItemScores
{
    /// <summary>Per-sample mean judge NLL (nats per token).</summary>
    public double[]? SampleNll { get; init; }
    /// <summary>Per-sample scored token counts (weights of the mdlm protocol).</summary>
    public double[]? SampleTokens { get; init; }
    /// <summary>Per-sample unigram entropy (nats).</summary>
    public double[]? SampleEntropy { get; init; }
    /// <summary>Per-hypothesis self-BLEU scores.</summary>
    public double[]? SelfBleu { get; init; }
    /// <summary>Per-example LAMBADA word NLL (AR) or NELBO (diffusion), nats.</summary>
    public double[]? LambadaWordNll { get; init; }
    /// <summary>Per-example LAMBADA correctness.</summary>
    public bool[]? LambadaCorrect { get; init; }
    /// <summary>Per-item multiple-choice correctness.</summary>
    public bool[]? McCorrect { get; init; }
    /// <summary>Per-item multiple-choice correctness with length-normalised scores.</summary>
    public bool[]? McCorrectNorm { get; init; }
    /// <summary>Per-sequence validation NELBO (nats per token); the same sequences and time draws for every model at a seed.</summary>
    public double[]? NelboSequence { get; init; }
}

/// <summary>How the report's intervals were computed.</summary>
/// <param name="Resamples">Bootstrap resamples (half-samples for distinct-n) per interval.</param>
/// <param name="Seed">Resampling seed.</param>
/// <param name="Level">Coverage level.</param>
/// <param name="Method">One line naming the method per metric.</param>
public sealed record IntervalInfo(int Resamples, int Seed, double Level, string Method);

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
    /// <summary>95 % bootstrap interval of the mean entropy.</summary>
    public Interval? EntropyCi { get; init; }

    /// <summary>Self-BLEU.</summary>
    public SelfBleuSection? SelfBleu { get; init; }
    /// <summary>distinct-1..4.</summary>
    public double[]? Distinct { get; init; }
    /// <summary>95 % half-sampling intervals of distinct-1..4.</summary>
    public Interval[]? DistinctCi { get; init; }
    /// <summary>MAUVE.</summary>
    public MauveSection? Mauve { get; init; }
    /// <summary>LAMBADA.</summary>
    public LambadaSection? Lambada { get; init; }
    /// <summary>Multiple choice.</summary>
    public MultipleChoiceSection? MultipleChoice { get; init; }
    /// <summary>Validation NELBO.</summary>
    public NelboSection? Nelbo { get; init; }
    /// <summary>Per-item scores (for differences between reports).</summary>
    public ItemScores? Items { get; init; }
    /// <summary>How the intervals were computed (null in reports written before intervals existed).</summary>
    public IntervalInfo? Intervals { get; init; }
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
        IO.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, JsonOptions));
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
        static string Ci(Interval? i, string fmt) => i is null ? "" : $"  95% {i.Format(fmt)}";
        static string CiP(Interval? i) => i is null ? "" : $"  95% [{i.Lower:P2}, {i.Upper:P2}]";
        if (GenPpl is not null) yield return ($"gen. perplexity ({GenPpl.Protocol})", $"{GenPpl.Perplexity:F2}{Ci(GenPpl.PerplexityCi, "F2")}");
        if (Entropy is not null) yield return ("unigram entropy (nats)", $"{Entropy:F3}{Ci(EntropyCi, "F3")}");
        if (SelfBleu is not null) yield return ("self-BLEU-4", $"{SelfBleu.Score:F4}{Ci(SelfBleu.ScoreCi, "F4")}");
        if (Distinct is not null) for (int i = 0; i < Distinct.Length; i++) yield return ($"distinct-{i + 1}", $"{Distinct[i]:F4}{Ci(DistinctCi?[i], "F4")}");
        if (Mauve is not null) yield return ("MAUVE", $"{Mauve.Mean:F4} ± {Mauve.Std:F4}{(Mauve.Range is { } r ? $"  range {r.Format("F4")} over {Mauve.Seeds.Length} seeds" : "")}");
        if (Lambada is not null)
        {
            yield return ("LAMBADA accuracy", $"{Lambada.Accuracy:P2}{CiP(Lambada.AccuracyCi)}");
            yield return ("LAMBADA perplexity", $"{Lambada.Perplexity:F2}{Ci(Lambada.PerplexityCi, "F2")}");
        }
        if (MultipleChoice is not null)
        {
            yield return ("multiple-choice acc", $"{MultipleChoice.Accuracy:P2}{CiP(MultipleChoice.AccuracyCi)}");
            yield return ("multiple-choice acc_norm", $"{MultipleChoice.AccuracyNorm:P2}{CiP(MultipleChoice.AccuracyNormCi)}");
        }
        if (Nelbo is not null) yield return ("valid NELBO ppl (≤)", $"{Nelbo.Perplexity:F2}{Ci(Nelbo.PerplexityCi, "F2")}");
        if (Intervals is not null) yield return ("intervals", $"{Intervals.Level:P0} percentile bootstrap, {Intervals.Resamples} resamples, seed {Intervals.Seed}");
    }
}
