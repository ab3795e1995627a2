using System.Text.Json.Nodes;
using Sdtt.Evaluation;
using Sdtt.IO;

namespace Sdtt.Workflows;

/// <summary>Eval reports laid side by side: the table, and for diffusion runs each report's difference from the baseline
/// (the teacher at full steps by default) with 95 % intervals and match verdicts.</summary>
/// <param name="Reports">The reports, in the order given.</param>
/// <param name="Rows">The table's rows (columns: <see cref="EvalComparison.Columns"/>).</param>
/// <param name="Differences">Differences from the baseline, or null when there is nothing to compare.</param>
/// <param name="Markdown">The table and the differences as Markdown.</param>
public sealed record ComparisonResult(IReadOnlyList<EvalReport> Reports, IReadOnlyList<string[]> Rows,
    IReadOnlyList<ReportComparison>? Differences, string Markdown);

/// <summary>The one path of <c>sdtt eval compare</c> and the pipeline's comparison stage.</summary>
public static class ComparisonJob
{
    /// <summary>Compares the reports at <paramref name="reportPaths"/>; with <paramref name="outDir"/>, writes comparison.md,
    /// comparison.json, differences.json and genppl_vs_steps.png there (each atomically). <paramref name="log"/> receives the
    /// paths written.</summary>
    public static ComparisonResult Run(IReadOnlyList<string> reportPaths, string? outDir, string? baseline, EquivalenceMargins margins,
        BootstrapOptions boot, Action<string>? log = null)
    {
        if (outDir is not null) OutputPath.RequireFolder(outDir);
        if (margins.GenPplRelative <= 0 || margins.EntropyRelative <= 0 || margins.AccuracyPoints <= 0) throw new SdttException("compare: margins must be > 0");
        if (boot.Resamples < 10) throw new SdttException("--resamples must be ≥ 10");
        var list = reportPaths.Select(EvalReport.Read).ToList();
        if (list.Count == 0) throw new SdttException("compare: no reports");
        var rows = EvalComparison.Table(list);
        var md = new System.Text.StringBuilder();
        md.AppendLine("| " + string.Join(" | ", EvalComparison.Columns) + " |");
        md.AppendLine("|" + string.Concat(EvalComparison.Columns.Select(_ => "---|")));
        foreach (var r in rows) md.AppendLine("| " + string.Join(" | ", r) + " |");
        List<ReportComparison>? diffs = null;
        if (list.Any(r => r.ModelKind == "diffusion") && list.Count > 1)
        {
            var basis = EvalDifferences.Baseline(list, baseline);
            diffs = EvalDifferences.Compare(list, basis, margins, boot);
            md.AppendLine();
            md.Append(EvalDifferences.Markdown(diffs, margins, boot));
        }
        var result = new ComparisonResult(list, rows, diffs, md.ToString());
        if (outDir is not null) Write(result, outDir, margins, boot, log);
        return result;
    }

    private static void Write(ComparisonResult result, string dir, EquivalenceMargins margins, BootstrapOptions boot, Action<string>? log)
    {
        Directory.CreateDirectory(dir);
        var mdPath = Path.Combine(dir, "comparison.md");
        AtomicFile.WriteAllText(mdPath, result.Markdown);
        var json = new JsonArray(result.Reports.Select(r => JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(r, EvalReport.JsonOptions))).ToArray());
        ModelFolder.WriteJsonAtomic(Path.Combine(dir, "comparison.json"), json);
        if (result.Differences is not null)
            ModelFolder.WriteJsonAtomic(Path.Combine(dir, "differences.json"), JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(
                new { margins, intervals = boot, comparisons = result.Differences }, EvalReport.JsonOptions))!);
        if (result.Reports.Any(r => r.GenPpl is not null))
        {
            var png = Path.Combine(dir, "genppl_vs_steps.png");
            EvalComparison.PlotGenPplVsSteps(result.Reports.ToList(), png);
            log?.Invoke($"plot written to {png}");
        }
        log?.Invoke($"table written to {mdPath}");
    }
}
