namespace Sdtt.Evaluation;

/// <summary>How close a student must be to the baseline (the teacher at full steps) to count as equivalent: a difference
/// counts as "equivalent" only when its whole 95 % interval lies inside ±margin.</summary>
/// <param name="GenPplRelative">Gen. perplexity: ± this fraction of the baseline's (0.05 = ±5 %).</param>
/// <param name="EntropyRelative">Unigram entropy: ± this fraction of the baseline's (0.02 = ±2 %).</param>
/// <param name="AccuracyPoints">LAMBADA and multiple-choice accuracy: ± this many (0.02 = ±2 percentage points).</param>
/// <param name="NelboRelative">Validation NELBO (nats per token): ± this fraction of the baseline's.</param>
public sealed record EquivalenceMargins(double GenPplRelative = 0.05, double EntropyRelative = 0.02, double AccuracyPoints = 0.02, double NelboRelative = 0.02);

/// <summary>One metric's difference student − baseline with its 95 % interval.</summary>
/// <param name="Metric">Metric name (e.g. "gen. perplexity (relative)").</param>
/// <param name="Difference">Point difference (relative metrics: student / baseline − 1).</param>
/// <param name="Ci">95 % bootstrap interval of the difference.</param>
/// <param name="Paired">Whether the bootstrap resampled items jointly (both models scored the same items).</param>
/// <param name="Margin">Equivalence margin (±), or null when none is set for the metric.</param>
/// <param name="Verdict">"equivalent" (interval inside ±margin), "different" (interval excludes 0), or "undecided".</param>
public sealed record MetricDifference(string Metric, double Difference, Interval Ci, bool Paired, double? Margin, string Verdict);

/// <summary>A student (or any report) against the baseline.</summary>
/// <param name="Label">The compared report's label.</param>
/// <param name="Baseline">The baseline's label.</param>
/// <param name="Differences">Per-metric differences.</param>
/// <param name="Verdict">"match" when gen. perplexity and entropy are both equivalent; "no match" when either interval
/// lies wholly outside its margin; "undecided" otherwise (more samples needed), "not comparable" without both metrics.</param>
public sealed record ReportComparison(string Label, string Baseline, IReadOnlyList<MetricDifference> Differences, string Verdict);

/// <summary>Differences, not overlaps: every report against a baseline report with bootstrap intervals of the
/// differences — paired per item for LAMBADA, multiple choice and NELBO (the same items for both models), unpaired over
/// samples for the sample metrics (independent sample sets).</summary>
public static class EvalDifferences
{
    /// <summary>The default baseline: the diffusion report with the most sampling steps whose model path contains
    /// <paramref name="hint"/> (default "teacher" or "mdlm"), else the diffusion report with the most steps.</summary>
    public static EvalReport Baseline(IReadOnlyList<EvalReport> reports, string? hint = null)
    {
        var diffusion = reports.Where(r => r.ModelKind == "diffusion").OrderByDescending(r => r.Steps ?? 0).ToList();
        if (diffusion.Count == 0) throw new SdttException("compare: no diffusion report to serve as the baseline (the teacher at full steps)");
        bool Named(EvalReport r) => hint is not null ? r.Label.Contains(hint, StringComparison.OrdinalIgnoreCase) || r.Model.Contains(hint, StringComparison.OrdinalIgnoreCase)
            : r.Label.Contains("teacher", StringComparison.OrdinalIgnoreCase) || r.Model.Contains("mdlm", StringComparison.OrdinalIgnoreCase) || r.Model.Contains("teacher", StringComparison.OrdinalIgnoreCase);
        return diffusion.FirstOrDefault(Named) ?? (hint is null ? diffusion[0] : throw new SdttException($"compare: no diffusion report matches the baseline '{hint}'"));
    }

    /// <summary>Every report except the baseline, compared with it.</summary>
    public static List<ReportComparison> Compare(IReadOnlyList<EvalReport> reports, EvalReport baseline, EquivalenceMargins? margins = null, BootstrapOptions? options = null) =>
        reports.Where(r => !ReferenceEquals(r, baseline)).Select(r => Compare(r, baseline, margins, options)).ToList();

    /// <summary>One report against the baseline.</summary>
    public static ReportComparison Compare(EvalReport r, EvalReport b, EquivalenceMargins? margins = null, BootstrapOptions? options = null)
    {
        var m = margins ?? new EquivalenceMargins();
        var o = options ?? new BootstrapOptions();
        var d = new List<MetricDifference>();
        var ri = r.Items ?? new ItemScores();
        var bi = b.Items ?? new ItemScores();
        MetricDifference? ppl = null, ent = null;
        if (ri.SampleNll is { Length: >= 2 } rn && bi.SampleNll is { Length: >= 2 } bn && r.GenPpl is not null && b.GenPpl is not null)
        {
            // log(ppl_r / ppl_b) = mean NLL_r − mean NLL_b; relative difference = exp(·) − 1.
            var ci = Bootstrap.Difference(rn, bn, v => v.Average(), o).Map(x => Math.Exp(x) - 1);
            ppl = Verdict("gen. perplexity (relative)", r.GenPpl.Perplexity / b.GenPpl.Perplexity - 1, ci, false, m.GenPplRelative);
            d.Add(ppl);
        }
        if (ri.SampleEntropy is { Length: >= 2 } re && bi.SampleEntropy is { Length: >= 2 } be)
        {
            double baseMean = be.Average();
            var ci = Bootstrap.Difference(re, be, v => v.Average(), o).Map(x => x / baseMean);
            ent = Verdict("entropy (relative)", re.Average() / baseMean - 1, ci, false, m.EntropyRelative);
            d.Add(ent);
        }
        if (ri.SelfBleu is { Length: >= 2 } rs && bi.SelfBleu is { Length: >= 2 } bs)
            d.Add(Verdict("self-BLEU", rs.Average() - bs.Average(), Bootstrap.Difference(rs, bs, v => v.Average(), o), false, null));
        if (r.Mauve is { Scores.Length: >= 2 } rm && b.Mauve is { Scores.Length: >= 2 } bm)
            d.Add(Verdict("MAUVE (over seeds)", rm.Mean - bm.Mean, Bootstrap.Difference(rm.Scores, bm.Scores, v => v.Average(), o), false, null));
        if (Same(r.Lambada?.File, b.Lambada?.File) && ri.LambadaCorrect is { } rl && bi.LambadaCorrect is { } bl && rl.Length == bl.Length && rl.Length >= 2)
        {
            d.Add(Verdict("LAMBADA accuracy", r.Lambada!.Accuracy - b.Lambada!.Accuracy, Bootstrap.PairedDifference(Ones(rl), Ones(bl), o), true, m.AccuracyPoints));
            if (ri.LambadaWordNll is { } rw && bi.LambadaWordNll is { } bw)
                d.Add(Verdict("LAMBADA word NLL (nats)", rw.Average() - bw.Average(), Bootstrap.PairedDifference(rw, bw, o), true, null));
        }
        if (Same(r.MultipleChoice?.File, b.MultipleChoice?.File) && ri.McCorrect is { } rc && bi.McCorrect is { } bc && rc.Length == bc.Length && rc.Length >= 2)
            d.Add(Verdict("multiple-choice accuracy", r.MultipleChoice!.Accuracy - b.MultipleChoice!.Accuracy, Bootstrap.PairedDifference(Ones(rc), Ones(bc), o), true, m.AccuracyPoints));
        if (Same(r.Nelbo?.Data, b.Nelbo?.Data) && r.Seed == b.Seed && ri.NelboSequence is { } rq && bi.NelboSequence is { } bq && rq.Length == bq.Length && rq.Length >= 2)
            d.Add(Verdict("NELBO (nats/token)", r.Nelbo!.Nll - b.Nelbo!.Nll, Bootstrap.PairedDifference(rq, bq, o), true, m.NelboRelative * b.Nelbo.Nll));
        string verdict = ppl is null || ent is null ? "not comparable"
            : ppl.Verdict == "equivalent" && ent.Verdict == "equivalent" ? "match"
            : Outside(ppl) || Outside(ent) ? "no match" : "undecided";
        return new ReportComparison(r.Label, b.Label, d, verdict);
    }

    static bool Same(string? a, string? b) => a is not null && b is not null && Path.GetFullPath(a) == Path.GetFullPath(b);
    static double[] Ones(bool[] x) => x.Select(v => v ? 1.0 : 0.0).ToArray();
    static bool Outside(MetricDifference d) => d.Margin is double mg && (d.Ci.Lower > mg || d.Ci.Upper < -mg);

    static MetricDifference Verdict(string metric, double diff, Interval ci, bool paired, double? margin)
    {
        string v = margin is double mg && ci.Lower >= -mg && ci.Upper <= mg ? "equivalent"
            : ci.Lower > 0 || ci.Upper < 0 ? "different" : "undecided";
        return new MetricDifference(metric, diff, ci, paired, margin, v);
    }

    /// <summary>Markdown table of the comparisons (one row per report and metric).</summary>
    public static string Markdown(IReadOnlyList<ReportComparison> comparisons, EquivalenceMargins margins, BootstrapOptions options)
    {
        var sb = new System.Text.StringBuilder();
        var baseline = comparisons.FirstOrDefault()?.Baseline ?? "";
        sb.AppendLine($"Differences against **{baseline}** (student − baseline; relative metrics as a fraction of the baseline), 95 % percentile " +
                      $"bootstrap intervals ({options.Resamples} resamples, seed {options.Seed}); paired per item for LAMBADA, multiple choice and NELBO. " +
                      $"Equivalence margins: gen. perplexity ±{margins.GenPplRelative:P0}, entropy ±{margins.EntropyRelative:P0}, accuracy ±{margins.AccuracyPoints * 100:F0} points, " +
                      $"NELBO ±{margins.NelboRelative:P0}. A **match** needs gen. perplexity and entropy both equivalent.");
        sb.AppendLine();
        sb.AppendLine("| model | metric | difference | 95 % interval | paired | margin | verdict |");
        sb.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var c in comparisons)
        {
            foreach (var d in c.Differences)
                sb.AppendLine($"| {c.Label} | {d.Metric} | {F(d.Difference)} | {d.Ci.Format("F4")} | {(d.Paired ? "yes" : "no")} | {(d.Margin is double mg ? "±" + F(mg) : "–")} | {d.Verdict} |");
            sb.AppendLine($"| {c.Label} | **overall** | | | | | **{c.Verdict}** |");
        }
        return sb.ToString();
    }

    static string F(double v) => v.ToString("F4", System.Globalization.CultureInfo.InvariantCulture);
}
