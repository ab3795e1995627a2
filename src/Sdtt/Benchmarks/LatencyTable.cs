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
        sb.AppendLine("| size | batch | params | precision | method | steps | ms/batch (median) | tokens/s | network calls | speedup vs AR-KV |");
        sb.AppendLine("|---|---:|---:|---|---|---:|---:|---:|---:|---:|");
        foreach (var r in report.Rows)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Size} | {r.Batch} | {r.Parameters / 1e6:F1}M | {r.Precision} | {LatencyOptions.MethodName(r.Method)} | {(r.Steps is { } s ? s.ToString(CultureInfo.InvariantCulture) : "-")} | " +
                $"{r.MedianMs:F0} | {r.TokensPerSecond:F0} | {r.NetworkCalls} | {(r.SpeedupVsArKv is { } x ? x.ToString("0.00", CultureInfo.InvariantCulture) + "x" : "-")} |"));
        return sb.ToString();
    }
}
