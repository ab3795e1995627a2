using Sdtt.Data;
using Sdtt.Diffusion;
using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>What <see cref="EvalRunner"/> computes and how (set the properties that differ from the defaults).</summary>
public sealed record EvalSettings
{
    /// <summary>Subset of <see cref="EvalRunner.AllMetrics"/>.</summary>
    public required IReadOnlyCollection<string> Metrics { get; init; }
    /// <summary>Samples to generate (when no samples file is given).</summary>
    public int NumSamples { get; init; } = 64;
    /// <summary>Sample length (tokens) and MAUVE truncation.</summary>
    public int SeqLen { get; init; } = 128;
    /// <summary>Sampling steps (recorded in the report).</summary>
    public int? Steps { get; init; }
    /// <summary>Seed of sampling and all stochastic estimates.</summary>
    public int Seed { get; init; }
    /// <summary>Judge batch size.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Generative-perplexity protocol.</summary>
    public GenPplProtocol Protocol { get; init; } = GenPplProtocol.Sdtt;
    /// <summary>Self-BLEU options.</summary>
    public SelfBleuOptions? SelfBleu { get; init; }
    /// <summary>MAUVE options.</summary>
    public MauveOptions? Mauve { get; init; }
    /// <summary>Number of MAUVE seeds (1..n as in SDTT).</summary>
    public int MauveSeeds { get; init; } = 5;
    /// <summary>Monte-Carlo draws for diffusion LAMBADA perplexity and multiple choice.</summary>
    public int Draws { get; init; } = ContinuationNelbo.DefaultDraws;
    /// <summary>Evaluate at most this many LAMBADA examples / MC items (≤ 0: all).</summary>
    public int Limit { get; init; }
    /// <summary>Most tokens of [BOS] + context + continuation + 1 in LAMBADA and multiple choice, the same for AR and diffusion
    /// models (≤ 0: the evaluated model's own window, <see cref="EvalInputs.ModelLength"/>). Give every model of a comparison
    /// the same value: the longest all of them support.</summary>
    public int ContextTokens { get; init; }
    /// <summary>LAMBADA JSONL.</summary>
    public string? LambadaFile { get; init; }
    /// <summary>Multiple-choice JSONL.</summary>
    public string? McFile { get; init; }
    /// <summary>Prepared token folder (valid split) for nelbo.</summary>
    public string? NelboData { get; init; }
    /// <summary>Cap on validation sequences (≤ 0: all), rounded up to whole batches. The estimator is the trainer's
    /// <see cref="NelboEvaluator"/> (MDLM: stratified t, ε = 1e−3, one t per sequence) with seed <see cref="Seed"/>.</summary>
    public int NelboMaxSequences { get; init; }
    /// <summary>Reference texts for MAUVE (JSONL text/tokens, or a prepared token folder).</summary>
    public string? MauveReference { get; init; }
    /// <summary>0: MAUVE compares the unconditional samples with the references. P &gt; 0: the SDTT protocol — for each
    /// reference of at least SeqLen tokens, <see cref="MauveContinuations"/> samples are generated with its first P tokens
    /// fixed (SDTT: P = 50, SeqLen = 100, 5 continuations, 1,024 references).</summary>
    public int MauvePrefix { get; init; }
    /// <summary>Continuations per prefix in the conditional protocol.</summary>
    public int MauveContinuations { get; init; } = 5;
    /// <summary>Most references used (≤ 0: NumSamples, or NumSamples / continuations when conditional).</summary>
    public int MauveReferences { get; init; }
    /// <summary>Bootstrap resamples of every 95 % interval (seeded with <see cref="Seed"/>).</summary>
    public int Resamples { get; init; } = 2000;
}

/// <summary>The models and samples an evaluation works on. Exactly one of <see cref="Diffusion"/> / <see cref="Ar"/> is the
/// evaluated model.</summary>
public sealed class EvalInputs
{
    /// <summary>Folder of the evaluated model (for the report).</summary>
    public string ModelPath { get; init; } = "";
    /// <summary>Label for tables and plots (null: the folder name, plus the step count).</summary>
    public string? Label { get; init; }
    /// <summary>Context window of the evaluated model in tokens (0: unknown; an AR model's window is its judge length).</summary>
    public int ModelLength { get; init; }
    /// <summary>The evaluated diffusion model.</summary>
    public IDenoiser? Diffusion { get; init; }
    /// <summary>The evaluated AR model.</summary>
    public IJudge? Ar { get; init; }
    /// <summary>The judge (genppl, MAUVE).</summary>
    public IJudge? Judge { get; init; }
    /// <summary>Judge folder (for the report).</summary>
    public string? JudgePath { get; init; }
    /// <summary>Pre-generated samples (take precedence over <see cref="Sampler"/>).</summary>
    public SampleSet? Samples { get; init; }
    /// <summary>Samples file (for the report).</summary>
    public string? SamplesPath { get; init; }
    /// <summary>Generates (numSamples, seqLen, seed, progress) → token rows.</summary>
    public Func<int, int, int, Action<int>?, List<int[]>>? Sampler { get; init; }
    /// <summary>Generates (prompt, n, seqLen, seed) → n rows of seqLen tokens starting with the prompt (conditional MAUVE).</summary>
    public Func<int[], int, int, int, List<int[]>>? PromptSampler { get; init; }
    /// <summary>Tokenizer of LAMBADA and multiple choice.</summary>
    public EvalTokenizer Tokenizer { get; init; } = EvalTokenizer.Gpt2;
    /// <summary>Device name for the report.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Progress factory: (label, total units) → tick(units done). Null = silent.</summary>
    public Func<string, long, Action<int>>? Progress { get; init; }
    /// <summary>One-line log messages (stderr in the CLI).</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>Runs the requested metrics and assembles an <see cref="EvalReport"/>.</summary>
public static class EvalRunner
{
    /// <summary>Metric names accepted by <c>--metrics</c>.</summary>
    public static readonly string[] AllMetrics = { "genppl", "entropy", "selfbleu", "distinct", "mauve", "lambada", "mc", "nelbo" };

    /// <summary>Parses a comma-separated metric list ("all" = every metric).</summary>
    public static List<string> ParseMetrics(string list)
    {
        var items = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => s.ToLowerInvariant()).ToList();
        if (items.Count == 0) throw new SdttException("--metrics: empty list");
        if (items.Contains("all")) return AllMetrics.ToList();
        foreach (var m in items)
            if (!AllMetrics.Contains(m)) throw new SdttException($"--metrics: unknown metric '{m}' (use {string.Join(", ", AllMetrics)} or all)");
        return items.Distinct().ToList();
    }

    /// <summary>How every interval of a report is computed (recorded in <see cref="EvalReport.Intervals"/>).</summary>
    public const string IntervalMethod = "percentile bootstrap over samples (gen. perplexity, entropy), over self-BLEU hypotheses " +
        "(each scored once against the whole set), over examples/items (LAMBADA, multiple choice) and validation sequences (NELBO); " +
        "distinct-n by half-sampling without replacement; MAUVE: range over seeds";

    /// <summary>Computes every requested metric.</summary>
    public static EvalReport Run(EvalInputs inputs, EvalSettings s)
    {
        var metrics = s.Metrics.ToHashSet();
        Validate(inputs, s, metrics);
        using var noGrad = no_grad();
        var boot = new BootstrapOptions(s.Resamples, s.Seed);
        var seconds = new Dictionary<string, double>();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Action<int>? P(string label, long total) => inputs.Progress?.Invoke(label, total);
        void Lap(string name) { seconds[name] = Math.Round(sw.Elapsed.TotalSeconds, 3); sw.Restart(); }

        var (samples, samplesSource) = Samples(inputs, s, metrics, P);
        if (samplesSource == "sampler") Lap("sampling");
        var items = new ItemScores();
        GenPplSection? genppl = null;
        if (metrics.Contains("genppl")) { (genppl, items) = GenPpl(inputs, s, samples!, boot, items, P); Lap("genppl"); }
        double? entropy = null; Interval? entropyCi = null;
        if (metrics.Contains("entropy") || metrics.Contains("genppl"))
        {
            var per = samples!.Tokens.Select(t => SampleEntropy.Of(t)).ToArray();
            entropy = per.Average();
            entropyCi = per.Length >= 2 ? Bootstrap.Mean(per, boot) : null;
            items = items with { SampleEntropy = per };
        }
        SelfBleuSection? sb = null;
        if (metrics.Contains("selfbleu")) { (sb, items) = SelfBleuOf(samples!, s, boot, items); Lap("selfbleu"); }
        double[]? distinct = null; Interval[]? distinctCi = null;
        if (metrics.Contains("distinct")) (distinct, distinctCi) = DistinctOf(samples!, boot);
        MauveSection? mauve = null;
        if (metrics.Contains("mauve")) { mauve = MauveOf(inputs, s, samples, P); Lap("mauve"); }
        LambadaSection? lambada = null;
        if (metrics.Contains("lambada")) { (lambada, items) = LambadaOf(inputs, s, boot, items, P); Lap("lambada"); }
        MultipleChoiceSection? mc = null;
        if (metrics.Contains("mc")) { (mc, items) = MultipleChoiceOf(inputs, s, boot, items, P); Lap("mc"); }
        NelboSection? nelbo = null;
        if (metrics.Contains("nelbo")) { (nelbo, items) = NelboOf(inputs, s, boot, items, P); Lap("nelbo"); }

        var name = EvalReport.ShortName(inputs.ModelPath);
        return new EvalReport
        {
            Model = inputs.ModelPath,
            ModelKind = inputs.Diffusion is not null ? "diffusion" : "ar",
            Label = inputs.Label ?? (samplesSource == "sampler" && s.Steps is int stp ? $"{name}@{stp}" : name),
            Judge = inputs.JudgePath,
            Steps = samplesSource == "sampler" ? s.Steps : null,
            NumSamples = samples?.Tokens.Count,
            SeqLen = samples is null ? null : (int)samples.Tokens.Average(t => t.Length),
            Samples = samplesSource,
            Seed = s.Seed,
            Device = inputs.Device,
            CreatedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"),
            GenPpl = genppl,
            Entropy = entropy,
            EntropyCi = entropyCi,
            SelfBleu = sb,
            Distinct = distinct,
            DistinctCi = distinctCi,
            Mauve = mauve,
            Lambada = lambada,
            MultipleChoice = mc,
            Nelbo = nelbo,
            Items = items,
            Intervals = new IntervalInfo(boot.Resamples, boot.Seed, boot.Level, IntervalMethod),
            Seconds = seconds,
        };
    }

    /// <summary>Every missing input named before any long work starts.</summary>
    static void Validate(EvalInputs inputs, EvalSettings s, HashSet<string> metrics)
    {
        if ((inputs.Diffusion is null) == (inputs.Ar is null)) throw new SdttException("evaluation needs exactly one model (diffusion or AR)");
        if (s.Resamples < 10) throw new SdttException($"--resamples must be ≥ 10 (got {s.Resamples})");
        bool needJudge = metrics.Contains("genppl") || metrics.Contains("mauve");
        if (needJudge && inputs.Judge is null) throw new SdttException("genppl and mauve need a judge (--judge DIR)");
        if (metrics.Contains("lambada") && s.LambadaFile is null) throw new SdttException("lambada needs a LAMBADA JSONL file (--data lambada=FILE)");
        if (metrics.Contains("mc") && s.McFile is null) throw new SdttException("mc needs a multiple-choice JSONL file (--data mc=FILE)");
        if (metrics.Contains("nelbo") && (s.NelboData is null || inputs.Diffusion is null))
            throw new SdttException(inputs.Diffusion is null ? "nelbo applies to diffusion models only" : "nelbo needs a prepared token folder (--data nelbo=DIR)");
        if (metrics.Contains("mauve") && s.MauveReference is null) throw new SdttException("mauve needs reference texts (--data mauve=FILE|DIR)");
        if (metrics.Contains("mauve") && s.MauvePrefix > 0 && (s.MauvePrefix >= s.SeqLen || inputs.PromptSampler is null))
            throw new SdttException(inputs.PromptSampler is null ? "conditional MAUVE needs a model with a sampler" : "--mauve-prefix must be shorter than --seq-len");
    }

    static (SampleSet? Samples, string? Source) Samples(EvalInputs inputs, EvalSettings s, HashSet<string> metrics, Func<string, long, Action<int>?> P)
    {
        bool need = metrics.Overlaps(new[] { "genppl", "entropy", "selfbleu", "distinct" }) || (metrics.Contains("mauve") && s.MauvePrefix <= 0);
        if (!need) return (null, null);
        if (inputs.Samples is not null) return (inputs.Samples, inputs.SamplesPath ?? "given");
        if (inputs.Sampler is null) throw new SdttException("sample metrics need samples: give --samples FILE or a model with a sampler");
        inputs.Log?.Invoke($"sampling {s.NumSamples} × {s.SeqLen} tokens{(s.Steps is int st ? $" with {st} steps" : "")}");
        return (SampleSet.FromIds(inputs.Sampler(s.NumSamples, s.SeqLen, s.Seed, P("sampling", s.NumSamples))), "sampler");
    }

    static (GenPplSection, ItemScores) GenPpl(EvalInputs inputs, EvalSettings s, SampleSet samples, BootstrapOptions boot, ItemScores items,
        Func<string, long, Action<int>?> P)
    {
        var j = inputs.Judge!;
        var r = s.Protocol == GenPplProtocol.Sdtt
            ? GenerativePerplexity.Sdtt(j, samples.Tokens, s.BatchSize, P("gen. perplexity", samples.Tokens.Count))
            : GenerativePerplexity.Mdlm(j, samples.Texts, s.BatchSize, P("gen. perplexity", samples.Texts.Count));
        var section = new GenPplSection(r.Protocol, r.Perplexity, r.MeanNll, r.Samples, r.Tokens, inputs.JudgePath ?? "")
            { PerplexityCi = r.Samples >= 2 ? r.Interval(boot) : null };
        return (section, items with { SampleNll = r.SampleNll, SampleTokens = r.SampleTokens });
    }

    static (SelfBleuSection, ItemScores) SelfBleuOf(SampleSet samples, EvalSettings s, BootstrapOptions boot, ItemScores items)
    {
        var o = (s.SelfBleu ?? new SelfBleuOptions()) with { Seed = s.SelfBleu?.Seed ?? s.Seed };
        var r = SelfBleu.Compute(samples.Tokens, o);
        var section = new SelfBleuSection(r.Score, r.Hypotheses, r.References, o.MaxOrder, o.Smoothing.ToString().ToLowerInvariant(), o.Seed)
            { ScoreCi = r.HypothesisScores.Length >= 2 ? Bootstrap.Mean(r.HypothesisScores, boot) : null };
        return (section, items with { SelfBleu = r.HypothesisScores });
    }

    static (double[], Interval[]?) DistinctOf(SampleSet samples, BootstrapOptions boot)
    {
        var rows = samples.Tokens;
        var values = DistinctN.All(rows);
        if (rows.Count < 4) return (values, null);
        var ci = Enumerable.Range(1, values.Length)
            .Select(n => Bootstrap.HalfSample(rows.Count, idx => DistinctN.Compute(idx.Select(i => (IReadOnlyList<int>)rows[i]), n), boot)).ToArray();
        return (values, ci);
    }

    static MauveSection MauveOf(EvalInputs inputs, EvalSettings s, SampleSet? samples, Func<string, long, Action<int>?> P)
    {
        bool conditional = s.MauvePrefix > 0;
        int cap = s.MauveReferences > 0 ? s.MauveReferences : conditional ? Math.Max(2, s.NumSamples / Math.Max(1, s.MauveContinuations)) : s.NumSamples;
        var reference = LoadReference(s.MauveReference!, s.SeqLen, cap, minLength: conditional ? s.SeqLen : 1);
        if (reference.Count > cap) reference = reference.Take(cap).ToList();
        List<int[]> model;
        if (conditional)
        {
            model = new List<int[]>();
            var tick = P("MAUVE conditional sampling", reference.Count);
            for (int i = 0; i < reference.Count; i++)
            {
                model.AddRange(inputs.PromptSampler!(reference[i][..s.MauvePrefix], s.MauveContinuations, s.SeqLen, s.Seed + 200 + i));
                tick?.Invoke(1);
            }
        }
        else model = samples!.Tokens;
        using var pf = FeatureExtractor.Extract(inputs.Judge!, reference, s.SeqLen, s.BatchSize, P("MAUVE features (reference)", reference.Count));
        using var qf = FeatureExtractor.Extract(inputs.Judge!, model, s.SeqLen, s.BatchSize, P("MAUVE features (model)", model.Count));
        var o = s.Mauve ?? new MauveOptions();
        var r = Mauve.ComputeSeeds(pf, qf, Enumerable.Range(1, Math.Max(1, s.MauveSeeds)).ToArray(), o);
        return new MauveSection(r.Mean, r.Std, r.Scores, r.Seeds, r.Buckets, r.PcaComponents, reference.Count, model.Count, o.ScalingFactor, s.MauveReference!,
            s.MauvePrefix, conditional ? s.MauveContinuations : 0) { Range = new Interval(r.Scores.Min(), r.Scores.Max()) };
    }

    /// <summary>The context limit of LAMBADA / multiple choice: the setting, or the evaluated model's window.</summary>
    static int Context(EvalInputs inputs, EvalSettings s) =>
        ContextWindow.Limit(s.ContextTokens, inputs.Ar?.MaxLength ?? inputs.ModelLength);

    static (LambadaSection, ItemScores) LambadaOf(EvalInputs inputs, EvalSettings s, BootstrapOptions boot, ItemScores items, Func<string, long, Action<int>?> P)
    {
        var ex = Lambada.Load(s.LambadaFile!, s.Limit);
        var o = new LambadaOptions(s.Draws, s.Seed, s.BatchSize, ContextTokens: Context(inputs, s));
        var r = inputs.Diffusion is not null
            ? Lambada.EvaluateDiffusion(inputs.Diffusion, ex, o, inputs.Tokenizer, P("LAMBADA", ex.Count))
            : Lambada.EvaluateAr(inputs.Ar!, ex, o, inputs.Tokenizer, P("LAMBADA", ex.Count));
        bool ci = r.Examples >= 2;
        var section = new LambadaSection(r.Kind, r.Accuracy, r.Perplexity, r.MeanWordNll, r.Examples, r.Draws, s.LambadaFile!)
        {
            AccuracyCi = ci ? Bootstrap.Proportion(r.Correct, boot) : null,
            PerplexityCi = ci ? Bootstrap.Mean(r.WordNll, boot).Map(Math.Exp) : null,
            ContextTokens = r.ContextTokens, Truncated = r.Truncated,
        };
        return (section, items with { LambadaWordNll = r.WordNll, LambadaCorrect = r.Correct });
    }

    static (MultipleChoiceSection, ItemScores) MultipleChoiceOf(EvalInputs inputs, EvalSettings s, BootstrapOptions boot, ItemScores items,
        Func<string, long, Action<int>?> P)
    {
        var its = MultipleChoice.Load(s.McFile!, s.Limit);
        var o = new MultipleChoiceOptions(s.Draws, s.Seed, s.BatchSize, ContextTokens: Context(inputs, s));
        var r = inputs.Diffusion is not null
            ? MultipleChoice.EvaluateDiffusion(inputs.Diffusion, its, o, inputs.Tokenizer, P("multiple choice", its.Count))
            : MultipleChoice.EvaluateAr(inputs.Ar!, its, o, inputs.Tokenizer, P("multiple choice", its.Count));
        bool ci = r.Items >= 2;
        var section = new MultipleChoiceSection(r.Kind, r.Accuracy, r.AccuracyNorm, r.Items, r.Draws, s.McFile!)
        {
            AccuracyCi = ci ? Bootstrap.Proportion(r.Correct, boot) : null,
            AccuracyNormCi = ci ? Bootstrap.Proportion(r.CorrectNorm, boot) : null,
            ContextTokens = r.ContextTokens, Truncated = r.Truncated,
        };
        return (section, items with { McCorrect = r.Correct, McCorrectNorm = r.CorrectNorm });
    }

    static (NelboSection, ItemScores) NelboOf(EvalInputs inputs, EvalSettings s, BootstrapOptions boot, ItemScores items, Func<string, long, Action<int>?> P)
    {
        using var data = TokenDataset.Open(s.NelboData!, "valid");
        long n = s.NelboMaxSequences > 0 ? Math.Min(s.NelboMaxSequences, data.Count) : data.Count;
        int maxBatches = (int)((n + s.BatchSize - 1) / s.BatchSize);
        var o = new NelboOptions(BatchSize: s.BatchSize, MaxBatches: maxBatches, Seed: s.Seed);
        var (per, r) = SequenceNelbo.Evaluate(inputs.Diffusion!, data, o, P("valid NELBO", maxBatches));
        var ci = per.Length >= 2 ? Bootstrap.Mean(per, boot) : null;
        var section = new NelboSection(r.Nll, r.Ppl, r.Bpd, r.Sequences, r.Tokens, s.NelboData!) { NllCi = ci, PerplexityCi = ci?.Map(Math.Exp) };
        return (section, items with { NelboSequence = per });
    }

    /// <summary>MAUVE reference sequences, each cut to its first <paramref name="seqLen"/> tokens: the valid split of a
    /// prepared token folder (its first <paramref name="max"/> sequences), or the rows of a JSONL file of texts/tokens that
/// have at least <paramref name="minLength"/> tokens.</summary>
    public static List<int[]> LoadReference(string path, int seqLen, int max, int minLength = 1)
    {
        var rows = new List<int[]>();
        if (Directory.Exists(path))
        {
            using var data = TokenDataset.Open(path, "valid");
            long n = Math.Min(data.Count, Math.Max(2, max));
            if (data.SeqLen < minLength) throw new SdttException($"{path}: sequences of {data.SeqLen} tokens are shorter than the {minLength} MAUVE needs");
            var buf = new long[data.SeqLen];
            for (long i = 0; i < n; i++)
            {
                data.Read(i, buf);
                rows.Add(buf.Take(seqLen).Select(v => (int)v).ToArray());
            }
        }
        else
        {
            var set = SampleFile.Read(path);
            rows.AddRange(set.Tokens.Where(t => t.Length >= minLength && t.Length > 0).Select(t => t.Length > seqLen ? t[..seqLen] : t));
        }
        if (rows.Count < 2) throw new SdttException($"{path}: MAUVE needs at least 2 reference sequences");
        return rows;
    }
}
