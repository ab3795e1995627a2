using System.Globalization;
using ScottPlot;

namespace Sdtt.Benchmarks;

/// <summary>Draws latency.png: ms per batch against diffusion steps (log-2 x axis, log-10 y axis), one line per diffusion
/// sampler and size/precision, and a horizontal line per AR method at the same size/precision.</summary>
public static class LatencyPlot
{
    /// <summary>Writes the plot (atomic).</summary>
    public static void Write(LatencyReport report, string pngPath)
    {
        var plt = new Plot();
        var rows = report.Rows;
        var steps = rows.Where(r => r.Steps is not null).Select(r => r.Steps!.Value).Distinct().OrderBy(s => s).ToList();
        if (steps.Count == 0) steps = report.Options.Steps.OrderBy(s => s).ToList();
        double xMin = Math.Log2(steps[0]) - 0.3, xMax = Math.Log2(steps[^1]) + 0.3;
        var groups = rows.GroupBy(r => (r.Size, r.Batch, r.Precision)).ToList();
        bool many = groups.Count > 1;
        int colorIndex = 0;
        foreach (var g in groups)
        {
            string prefix = many ? $"{g.Key.Size} b{g.Key.Batch} {g.Key.Precision} " : "";
            foreach (var method in new[] { LatencyMethod.DiffusionRevealFirst, LatencyMethod.Diffusion, LatencyMethod.DiffusionCached })
            {
                var pts = g.Where(r => r.Method == method && r.Steps is not null).OrderBy(r => r.Steps).ToList();
                if (pts.Count == 0) continue;
                var s = plt.Add.Scatter(pts.Select(r => Math.Log2(r.Steps!.Value)).ToArray(), pts.Select(r => Math.Log10(r.MedianMs)).ToArray());
                s.Color = plt.Add.Palette.GetColor(colorIndex++);
                s.LegendText = prefix + (method switch { LatencyMethod.DiffusionRevealFirst => "reveal-first", LatencyMethod.Diffusion => "ancestral (no cache)", _ => "ancestral (cached)" });
                s.MarkerSize = 6;
                s.LineWidth = 2;
                if (method == LatencyMethod.DiffusionCached) s.LinePattern = LinePattern.Dashed;
            }
            foreach (var method in new[] { LatencyMethod.ArKv, LatencyMethod.ArNoCache })
            {
                var ar = g.FirstOrDefault(r => r.Method == method);
                if (ar is null) continue;
                var line = plt.Add.Line(xMin, Math.Log10(ar.MedianMs), xMax, Math.Log10(ar.MedianMs));
                line.Color = plt.Add.Palette.GetColor(colorIndex++);
                line.LineWidth = 2;
                line.LinePattern = method == LatencyMethod.ArKv ? LinePattern.Solid : LinePattern.Dotted;
                line.MarkerSize = 0;
                line.LegendText = prefix + (method == LatencyMethod.ArKv ? $"AR, KV cache ({ar.MedianMs:F0} ms)" : $"AR, no cache ({ar.MedianMs:F0} ms)");
            }
        }
        var xt = new ScottPlot.TickGenerators.NumericManual();
        foreach (var s in steps) xt.AddMajor(Math.Log2(s), s.ToString(CultureInfo.InvariantCulture));
        plt.Axes.Bottom.TickGenerator = xt;
        var ms = rows.Select(r => r.MedianMs).Where(x => x > 0).ToList();
        double yLo = Math.Floor(Math.Log10(ms.Min())), yHi = Math.Ceiling(Math.Log10(ms.Max()));
        if (yHi <= yLo) yHi = yLo + 1;
        var yt = new ScottPlot.TickGenerators.NumericManual();
        for (double e = yLo; e <= yHi; e++)
            foreach (var m in new[] { 1.0, 2.0, 5.0 })
            {
                double v = m * Math.Pow(10, e);
                if (Math.Log10(v) <= yHi + 1e-9) yt.AddMajor(Math.Log10(v), v >= 1 ? v.ToString("0", CultureInfo.InvariantCulture) : v.ToString("0.###", CultureInfo.InvariantCulture));
            }
        plt.Axes.Left.TickGenerator = yt;
        plt.Axes.SetLimits(xMin, xMax, Math.Log10(ms.Min()) - 0.15, Math.Log10(ms.Max()) + 0.15);
        var o = report.Options;
        plt.Title($"latency, batch {string.Join(",", o.Batches)}, {o.SeqLen} tokens, {report.DeviceName} ({report.Threads} thread{(report.Threads == 1 ? "" : "s")}), untrained models");
        plt.XLabel("diffusion sampling steps (log scale)");
        plt.YLabel("ms per batch (log scale)");
        plt.ShowLegend(Alignment.UpperLeft);
        IO.AtomicFile.SavePng(plt, pngPath, 1000, 600);
    }
}
