using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sdtt.IO;

namespace Sdtt.Training;

/// <summary>The run's <c>metrics.jsonl</c>: one JSON object per line, each with <c>step</c> and <c>kind</c>
/// ("train" or "valid") and the metric values. Appended line by line and flushed, so a crash loses at most one line.</summary>
public sealed class MetricsLog
{
    /// <summary>The file path.</summary>
    public string Path { get; }

    /// <summary>A log at <paramref name="path"/> (created on first write).</summary>
    public MetricsLog(string path) => Path = path;

    /// <summary>Appends one record.</summary>
    public void Append(long step, string kind, IEnumerable<KeyValuePair<string, double>> values)
    {
        var o = new JsonObject { ["step"] = step, ["kind"] = kind };
        foreach (var (k, v) in values) o[k] = double.IsFinite(v) ? v : null;
        using var w = new StreamWriter(Path, append: true);
        w.WriteLine(o.ToJsonString());
    }

    /// <summary>Every record (unreadable lines, e.g. a torn last line, are skipped).</summary>
    public IReadOnlyList<JsonObject> Read()
    {
        var list = new List<JsonObject>();
        if (!File.Exists(Path)) return list;
        foreach (var line in File.ReadLines(Path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            try { if (JsonNode.Parse(line) is JsonObject o) list.Add(o); }
            catch (JsonException) { }
        }
        return list;
    }

    /// <summary>Drops records after <paramref name="step"/> (a resumed run rewrites them). Atomic.</summary>
    public void TruncateAfter(long step)
    {
        if (!File.Exists(Path)) return;
        var keep = Read().Where(o => o["step"]?.GetValue<long>() <= step).Select(o => o.ToJsonString());
        AtomicFile.WriteAllLines(Path, keep);
    }

    /// <summary>(step, value) pairs of one metric of one kind, in file order.</summary>
    public static List<(double Step, double Value)> Series(IEnumerable<JsonObject> records, string kind, string key) =>
        records.Where(o => o["kind"]?.GetValue<string>() == kind && o[key] is JsonValue)
            .Select(o => ((double)o["step"]!.GetValue<long>(), o[key]!.GetValue<double>())).ToList();
}
