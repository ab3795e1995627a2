using System.Globalization;
using System.Text;

namespace Sdtt.Benchmarks;

/// <summary>The benchmark's table as Markdown (pastes into a README as is).</summary>
public static class LatencyTable
{
    /// <summary>size | params | precision | method | steps | ms/batch | tokens/s | network calls | speedup vs AR-KV.</summary>
    public static string Markdown(LatencyReport report)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| size | batch | params | precision | method | steps | ms/batch (median) | tokens/s | network calls | speedup vs AR-KV | roofline predicts |");
        sb.AppendLine("|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in report.Rows)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Size} | {r.Batch} | {r.Parameters / 1e6:F1}M | {r.Precision} | {LatencyOptions.MethodName(r.Method)} | {(r.Steps is { } s ? s.ToString(CultureInfo.InvariantCulture) : "-")} | " +
                $"{r.MedianMs:F0} | {r.TokensPerSecond:F0} | {r.NetworkCalls} | {X(r.SpeedupVsArKv)} | {X(r.PredictedSpeedupVsArKv)} |"));
        return sb.ToString();
    }

    /// <summary>The rooflines of the run: copy bandwidth and AR-KV's achieved weight bandwidth, matmul rate and the
    /// DiT trunk's achieved rate, each with its fraction.</summary>
    public static string RooflineMarkdown(LatencyReport report)
    {
        var sb = new StringBuilder();
        if (report.CpuDescription.Length > 0) sb.AppendLine($"CPU: {report.CpuDescription}; {report.Threads} libtorch threads").AppendLine();
        sb.AppendLine("| size | batch | precision | copy GB/s | AR-KV weights read GB/s | of copy | matmul GFLOP/s | trunk ms | trunk GFLOP/s | of matmul |");
        sb.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in report.Rooflines)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Size} | {r.Batch} | {r.Precision} | {r.CopyGBps:F1} | {(r.ArAchievedGBps is { } g ? g.ToString("F1", CultureInfo.InvariantCulture) : "-")} | " +
                $"{(r.ArBandwidthFraction is { } f ? f.ToString("P0", CultureInfo.InvariantCulture) : "-")} | {r.MatmulGflops:F0} | {r.TrunkMs:F1} | {r.TrunkGflops:F0} | {r.TrunkFraction.ToString("P0", CultureInfo.InvariantCulture)} |"));
        return sb.ToString();
    }

    private static string X(double? x) => x is { } v ? v.ToString("0.00", CultureInfo.InvariantCulture) + "x" : "-";
}
