using Sdtt.Data;
using Sdtt.Diffusion;
using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Evaluation;

/// <summary>What <see cref="EvalRunner"/> computes and how.</summary>
/// <param name="Metrics">Subset of <see cref="EvalRunner.AllMetrics"/>.</param>
/// <param name="NumSamples">Samples to generate (when no samples file is given).</param>
/// <param name="SeqLen">Sample length (tokens) and MAUVE truncation.</param>
/// <param name="Steps">Sampling steps (recorded in the report).</param>
/// <param name="Seed">Seed of sampling and all stochastic estimates.</param>
/// <param name="BatchSize">Judge batch size.</param>
/// <param name="Protocol">Generative-perplexity protocol.</param>
/// <param name="SelfBleu">Self-BLEU options.</param>
/// <param name="Mauve">MAUVE options.</param>
/// <param name="MauveSeeds">Number of MAUVE seeds (1..n as in SDTT).</param>
/// <param name="Draws">Monte-Carlo draws for diffusion LAMBADA perplexity and multiple choice.</param>
/// <param name="Limit">Evaluate at most this many LAMBADA examples / MC items (≤ 0: all).</param>
/// <param name="LambadaFile">LAMBADA JSONL.</param>
/// <param name="McFile">Multiple-choice JSONL.</param>
/// <param name="NelboData">Prepared token folder (valid split) for nelbo.</param>
/// <param name="NelboMaxSequences">Cap on validation sequences (≤ 0: all), rounded up to whole batches. The estimator is
/// the trainer's <see cref="NelboEvaluator"/> (MDLM: stratified t, ε = 1e−3, one t per sequence) with seed <see cref="Seed"/>.</param>
/// <param name="MauveReference">Reference texts for MAUVE (JSONL text/tokens, or a prepared token folder).</param>
/// <param name="MauvePrefix">0: MAUVE compares the unconditional samples with the references. P &gt; 0: the SDTT protocol —
/// for each reference of at least SeqLen tokens, <paramref name="MauveContinuations"/> samples are generated with its first P
/// tokens fixed (SDTT: P = 50, SeqLen = 100, 5 continuations, 1,024 references).</param>
/// <param name="MauveContinuations">Continuations per prefix in the conditional protocol.</param>
/// <param name="MauveReferences">Most references used (≤ 0: NumSamples, or NumSamples / continuations when conditional).</param>
public sealed record EvalSettings(
    IReadOnlyCollection<string> Metrics, int NumSamples = 64, int SeqLen = 128, int? Steps = null, int Seed = 0, int BatchSize = 8,
    GenPplProtocol Protocol = GenPplProtocol.Sdtt, SelfBleuOptions? SelfBleu = null, MauveOptions? Mauve = null, int MauveSeeds = 5,
    int Draws = ContinuationNelbo.DefaultDraws, int Limit = 0, string? LambadaFile = null, string? McFile = null,
    string? NelboData = null, int NelboMaxSequences = 0, string? MauveReference = null,
    int MauvePrefix = 0, int MauveContinuations = 5, int MauveReferences = 0);

/// <summary>The models and samples an evaluation works on. Exactly one of <see cref="Diffusion"/> / <see cref="Ar"/> is the
/// evaluated model.</summary>
public sealed class EvalInputs
{
    /// <summary>Folder of the evaluated model (for the report).</summary>
    public string ModelPath { get; init; } = "";
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

    /// <summary>Computes every requested metric.</summary>
    public static EvalReport Run(EvalInputs inputs, EvalSettings s)
    {
        if ((inputs.Diffusion is null) == (inputs.Ar is null)) throw new SdttException("evaluation needs exactly one model (diffusion or AR)");
        using var noGrad = no_grad();
        var metrics = s.Metrics.ToHashSet();
        var seconds = new Dictionary<string, double>();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Action<int>? P(string label, long total) => inputs.Progress?.Invoke(label, total);
        void Lap(string name) { seconds[name] = Math.Round(sw.Elapsed.TotalSeconds, 3); sw.Restart(); }

        bool needSamples = metrics.Overlaps(new[] { "genppl", "entropy", "selfbleu", "distinct" }) || (metrics.Contains("mauve") && s.MauvePrefix <= 0);
        bool needJudge = metrics.Contains("genppl") || metrics.Contains("mauve");
        if (needJudge && inputs.Judge is null) throw new SdttException("genppl and mauve need a judge (--judge DIR)");
        if (metrics.Contains("lambada") && s.LambadaFile is null) throw new SdttException("lambada needs a LAMBADA JSONL file (--data lambada=FILE)");
        if (metrics.Contains("mc") && s.McFile is null) throw new SdttException("mc needs a multiple-choice JSONL file (--data mc=FILE)");
        if (metrics.Contains("nelbo") && (s.NelboData is null || inputs.Diffusion is null))
            throw new SdttException(inputs.Diffusion is null ? "nelbo applies to diffusion models only" : "nelbo needs a prepared token folder (--data nelbo=DIR)");
        if (metrics.Contains("mauve") && s.MauveReference is null) throw new SdttException("mauve needs reference texts (--data mauve=FILE|DIR)");

        SampleSet? samples = null;
        string? samplesSource = null;
        if (needSamples)
        {
            if (inputs.Samples is not null) { samples = inputs.Samples; samplesSource = inputs.SamplesPath ?? "given"; }
            else if (inputs.Sampler is not null)
            {
                inputs.Log?.Invoke($"sampling {s.NumSamples} × {s.SeqLen} tokens{(s.Steps is int st ? $" with {st} steps" : "")}");
                samples = SampleSet.FromIds(inputs.Sampler(s.NumSamples, s.SeqLen, s.Seed, P("sampling", s.NumSamples)));
                samplesSource = "sampler";
                Lap("sampling");
            }
            else throw new SdttException("sample metrics need samples: give --samples FILE or a model with a sampler");
        }

        GenPplSection? genppl = null;
        if (metrics.Contains("genppl"))
        {
            var j = inputs.Judge!;
            var r = s.Protocol == GenPplProtocol.Sdtt
                ? GenerativePerplexity.Sdtt(j, samples!.Tokens, s.BatchSize, P("gen. perplexity", samples.Tokens.Count))
                : GenerativePerplexity.Mdlm(j, samples!.Texts, s.BatchSize, P("gen. perplexity", samples.Texts.Count));
            genppl = new GenPplSection(r.Protocol, r.Perplexity, r.MeanNll, r.Samples, r.Tokens, inputs.JudgePath ?? "");
            Lap("genppl");
        }
        double? entropy = metrics.Contains("entropy") || metrics.Contains("genppl") ? SampleEntropy.Mean(samples!.Tokens) : null;
        SelfBleuSection? sb = null;
        if (metrics.Contains("selfbleu"))
        {
            var o = (s.SelfBleu ?? new SelfBleuOptions()) with { Seed = s.SelfBleu?.Seed ?? s.Seed };
            var r = SelfBleu.Compute(samples!.Tokens, o);
            sb = new SelfBleuSection(r.Score, r.Hypotheses, r.References, o.MaxOrder, o.Smoothing.ToString().ToLowerInvariant(), o.Seed);
            Lap("selfbleu");
        }
        double[]? distinct = metrics.Contains("distinct") ? DistinctN.All(samples!.Tokens) : null;

        MauveSection? mauve = null;
        if (metrics.Contains("mauve"))
        {
            bool conditional = s.MauvePrefix > 0;
            if (conditional && (s.MauvePrefix >= s.SeqLen || inputs.PromptSampler is null))
                throw new SdttException(inputs.PromptSampler is null ? "conditional MAUVE needs a model with a sampler" : "--mauve-prefix must be shorter than --seq-len");
            int cap = s.MauveReferences > 0 ? s.MauveReferences : conditional ? Math.Max(2, s.NumSamples / Math.Max(1, s.MauveContinuations)) : s.NumSamples;
            var reference = LoadReference(s.MauveReference!, s.SeqLen, cap, minLength: conditional ? s.SeqLen : 1);
            if (reference.Count > cap) reference = reference.Take(cap).ToList();
            var judge = inputs.Judge!;
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
            using var pf = FeatureExtractor.Extract(judge, reference, s.SeqLen, s.BatchSize, P("MAUVE features (reference)", reference.Count));
            using var qf = FeatureExtractor.Extract(judge, model, s.SeqLen, s.BatchSize, P("MAUVE features (model)", model.Count));
            var o = s.Mauve ?? new MauveOptions();
            var seeds = Enumerable.Range(1, Math.Max(1, s.MauveSeeds)).ToArray();
            var r = Mauve.ComputeSeeds(pf, qf, seeds, o);
            mauve = new MauveSection(r.Mean, r.Std, r.Scores, r.Seeds, r.Buckets, r.PcaComponents, reference.Count, model.Count, o.ScalingFactor, s.MauveReference!,
                s.MauvePrefix, conditional ? s.MauveContinuations : 0);
            Lap("mauve");
        }

        LambadaSection? lambada = null;
        if (metrics.Contains("lambada"))
        {
            var ex = Lambada.Load(s.LambadaFile!, s.Limit);
            var o = new LambadaOptions(s.Draws, s.Seed, s.BatchSize);
            var r = inputs.Diffusion is not null
                ? Lambada.EvaluateDiffusion(inputs.Diffusion, ex, o, inputs.Tokenizer, P("LAMBADA", ex.Count))
                : Lambada.EvaluateAr(inputs.Ar!, ex, o, inputs.Tokenizer, P("LAMBADA", ex.Count));
            lambada = new LambadaSection(r.Kind, r.Accuracy, r.Perplexity, r.MeanWordNll, r.Examples, r.Draws, s.LambadaFile!);
            Lap("lambada");
        }
        MultipleChoiceSection? mc = null;
        if (metrics.Contains("mc"))
        {
            var items = MultipleChoice.Load(s.McFile!, s.Limit);
            var o = new MultipleChoiceOptions(s.Draws, s.Seed, s.BatchSize);
            var r = inputs.Diffusion is not null
                ? MultipleChoice.EvaluateDiffusion(inputs.Diffusion, items, o, inputs.Tokenizer, P("multiple choice", items.Count))
                : MultipleChoice.EvaluateAr(inputs.Ar!, items, o, inputs.Tokenizer, P("multiple choice", items.Count));
            mc = new MultipleChoiceSection(r.Kind, r.Accuracy, r.AccuracyNorm, r.Items, r.Draws, s.McFile!);
            Lap("mc");
        }
        NelboSection? nelbo = null;
        if (metrics.Contains("nelbo"))
        {
            using var data = TokenDataset.Open(s.NelboData!, "valid");
            long n = s.NelboMaxSequences > 0 ? Math.Min(s.NelboMaxSequences, data.Count) : data.Count;
            int maxBatches = (int)((n + s.BatchSize - 1) / s.BatchSize);
            var o = new NelboOptions(BatchSize: s.BatchSize, MaxBatches: maxBatches, Seed: s.Seed);
            var tick = P("valid NELBO", maxBatches);
            var r = NelboEvaluator.Evaluate(inputs.Diffusion!, data, o, tick is null ? null : new BatchTicks(tick));
            nelbo = new NelboSection(r.Nll, r.Ppl, r.Bpd, r.Sequences, r.Tokens, s.NelboData!);
            Lap("nelbo");
        }

        var name = EvalReport.ShortName(inputs.ModelPath);
        return new EvalReport
        {
            Model = inputs.ModelPath,
            ModelKind = inputs.Diffusion is not null ? "diffusion" : "ar",
            Label = samplesSource == "sampler" && s.Steps is int stp ? $"{name}@{stp}" : name,
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
            SelfBleu = sb,
            Distinct = distinct,
            Mauve = mauve,
            Lambada = lambada,
            MultipleChoice = mc,
            Nelbo = nelbo,
            Seconds = seconds,
        };
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

    /// <summary>Adapts the evaluator's (done, total) batch reports to a tick callback.</summary>
    sealed class BatchTicks(Action<int> tick) : IProgress<(long Done, long Total)>
    {
        long _last;
        public void Report((long Done, long Total) value) { tick((int)(value.Done - _last)); _last = value.Done; }
    }
}
