using ScottPlot;

namespace Sdtt.Evaluation;

/// <summary>Side-by-side comparison of several eval reports (models and step counts): a table and a plot of generative
/// perplexity against sampling steps with the unigram entropy on a second y-axis.</summary>
public static class EvalComparison
{
    /// <summary>Column headers of <see cref="Table"/>.</summary>
    public static readonly string[] Columns =
        { "model", "kind", "steps", "gen. ppl", "entropy", "self-BLEU", "distinct-4", "MAUVE", "LAMBADA acc", "LAMBADA ppl", "MC acc", "MC acc_norm", "NELBO ppl" };

    /// <summary>One row per report, sorted by model then steps; "–" where a metric was not run; 95 % intervals in brackets
    /// (accuracies in percent).</summary>
    public static List<string[]> Table(IReadOnlyList<EvalReport> reports)
    {
        static string F(double? v, string fmt) => v is double d ? d.ToString(fmt, System.Globalization.CultureInfo.InvariantCulture) : "–";
        static string Ci(Interval? i, string fmt, double scale = 1) => i is null ? "" : " " + new Interval(i.Lower * scale, i.Upper * scale).Format(fmt);
        return Order(reports).Select(r => new[]
        {
            r.Label.Length > 0 ? r.Label : r.Model,
            r.ModelKind,
            r.Steps?.ToString() ?? "–",
            F(r.GenPpl?.Perplexity, "F2") + Ci(r.GenPpl?.PerplexityCi, "F1"),
            F(r.Entropy, "F3") + Ci(r.EntropyCi, "F3"),
            F(r.SelfBleu?.Score, "F4") + Ci(r.SelfBleu?.ScoreCi, "F3"),
            F(r.Distinct is { Length: >= 4 } d ? d[3] : null, "F4") + Ci(r.DistinctCi is { Length: >= 4 } dc ? dc[3] : null, "F3"),
            r.Mauve is null ? "–" : $"{F(r.Mauve.Mean, "F3")}±{F(r.Mauve.Std, "F3")}",
            F(r.Lambada?.Accuracy * 100, "F2") + (r.Lambada is null ? "" : "%") + Ci(r.Lambada?.AccuracyCi, "F1", 100),
            F(r.Lambada?.Perplexity, "F2") + Ci(r.Lambada?.PerplexityCi, "F1"),
            F(r.MultipleChoice?.Accuracy * 100, "F2") + (r.MultipleChoice is null ? "" : "%") + Ci(r.MultipleChoice?.AccuracyCi, "F1", 100),
            F(r.MultipleChoice?.AccuracyNorm * 100, "F2") + (r.MultipleChoice is null ? "" : "%") + Ci(r.MultipleChoice?.AccuracyNormCi, "F1", 100),
            F(r.Nelbo?.Perplexity, "F2") + Ci(r.Nelbo?.PerplexityCi, "F2"),
        }).ToList();
    }

    static IEnumerable<EvalReport> Order(IEnumerable<EvalReport> reports) =>
        reports.OrderBy(r => r.Model, StringComparer.Ordinal).ThenBy(r => r.Steps ?? int.MaxValue);

    /// <summary>Series key of a report: the model folder.</summary>
    static string SeriesName(EvalReport r) => EvalReport.ShortName(r.Model) is var n && (n == "ema" || n.EndsWith("/ema")) ? "SDTT students (EMA)" : n;

    /// <summary>Plots generative perplexity (left axis, solid) and unigram entropy (right axis, dashed) against sampling
    /// steps (log2 axis), one series per model, with 95 % intervals as error bars; reports without steps (AR models, sample
    /// files) become horizontal lines with their interval as dotted lines.
    /// Writes a PNG atomically. Returns the number of points drawn.</summary>
    public static int PlotGenPplVsSteps(IReadOnlyList<EvalReport> reports, string path, int width = 900, int height = 560)
    {
        var usable = reports.Where(r => r.GenPpl is not null).ToList();
        if (usable.Count == 0) throw new SdttException("compare: no report has a generative perplexity to plot");
        var plot = new Plot();
        plot.Title("Generative perplexity vs sampling steps");
        plot.Axes.Left.Label.Text = $"generative perplexity ({usable[0].GenPpl!.Protocol})";
        plot.Axes.Right.Label.Text = "unigram entropy (nats, dashed)";
        plot.Axes.Bottom.Label.Text = "sampling steps";
        var palette = new ScottPlot.Palettes.Category10();
        int color = 0, points = 0;
        var allSteps = new SortedSet<int>();
        foreach (var group in usable.GroupBy(SeriesName))
        {
            var c = palette.GetColor(color++);
            var withSteps = group.Where(r => r.Steps is > 0).OrderBy(r => r.Steps).ToList();
            if (withSteps.Count > 0)
            {
                var xs = withSteps.Select(r => Math.Log2(r.Steps!.Value)).ToArray();
                foreach (var r in withSteps) allSteps.Add(r.Steps!.Value);
                var ppl = plot.Add.Scatter(xs, withSteps.Select(r => r.GenPpl!.Perplexity).ToArray());
                ppl.Color = c; ppl.LegendText = group.Key; ppl.MarkerSize = 7; ppl.LineWidth = 2;
                points += xs.Length;
                ErrorBars(plot, xs, withSteps.Select(r => r.GenPpl!.Perplexity).ToArray(), withSteps.Select(r => r.GenPpl!.PerplexityCi).ToArray(), c, null);
                var ent = withSteps.Where(r => r.Entropy is not null).ToList();
                if (ent.Count > 0)
                {
                    var e = plot.Add.Scatter(ent.Select(r => Math.Log2(r.Steps!.Value)).ToArray(), ent.Select(r => r.Entropy!.Value).ToArray());
                    e.Color = c; e.LinePattern = LinePattern.Dashed; e.MarkerShape = MarkerShape.OpenCircle; e.MarkerSize = 7;
                    e.Axes.YAxis = plot.Axes.Right;
                    points += ent.Count;
                    ErrorBars(plot, ent.Select(r => Math.Log2(r.Steps!.Value)).ToArray(), ent.Select(r => r.Entropy!.Value).ToArray(),
                        ent.Select(r => r.EntropyCi).ToArray(), c, plot.Axes.Right);
                }
            }
            foreach (var r in group.Where(r => r.Steps is null or <= 0))
            {
                var h = plot.Add.HorizontalLine(r.GenPpl!.Perplexity);
                h.Color = c; h.LineWidth = 1.5f; h.LegendText = r.Label.Length > 0 ? r.Label : $"{group.Key} (no steps)";
                if (r.Label.Contains("nucleus", StringComparison.OrdinalIgnoreCase)) h.LinePattern = LinePattern.DenselyDashed;
                points++;
                if (r.GenPpl.PerplexityCi is { } ci)
                    foreach (var y in new[] { ci.Lower, ci.Upper })
                    {
                        var b = plot.Add.HorizontalLine(y);
                        b.Color = c; b.LineWidth = 1; b.LinePattern = LinePattern.Dotted;
                    }
            }
        }
        if (allSteps.Count > 0)
            plot.Axes.Bottom.SetTicks(allSteps.Select(s => Math.Log2(s)).ToArray(), allSteps.Select(s => s.ToString()).ToArray());
        plot.ShowLegend(Alignment.UpperRight);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        IO.AtomicFile.SavePng(plot, path, width, height);
        return points;
    }

    static void ErrorBars(Plot plot, double[] xs, double[] ys, Interval?[] cis, Color color, ScottPlot.IYAxis? yAxis)
    {
        if (cis.Any(c => c is null)) return;
        var neg = ys.Select((y, i) => y - cis[i]!.Lower).ToArray();
        var pos = ys.Select((y, i) => cis[i]!.Upper - y).ToArray();
        var eb = new ScottPlot.Plottables.ErrorBar(xs, ys, null, null, neg, pos) { Color = color };
        if (yAxis is not null) eb.Axes.YAxis = yAxis;
        plot.Add.Plottable(eb);
    }
}
