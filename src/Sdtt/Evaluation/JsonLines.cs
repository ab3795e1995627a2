using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sdtt.Evaluation;

/// <summary>Reading and writing JSON Lines files with one-line errors that name the file and line.</summary>
public static class JsonLines
{
    /// <summary>Objects of a JSONL file (blank lines skipped), with their 1-based line numbers.</summary>
    public static IEnumerable<(int Line, JsonObject Obj)> Read(string path)
    {
        if (!File.Exists(path)) throw new SdttException($"{path}: file not found");
        int n = 0;
        foreach (var line in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonNode? node;
            try { node = JsonNode.Parse(line); }
            catch (JsonException e) { throw new SdttException($"{path}:{n}: not valid JSON ({e.Message.Split('\n')[0]})"); }
            if (node is not JsonObject o) throw new SdttException($"{path}:{n}: expected a JSON object per line");
            yield return (n, o);
        }
    }

    /// <summary>Writes objects as JSONL atomically (temp file + rename).</summary>
    public static void Write(string path, IEnumerable<JsonObject> rows)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        IO.AtomicFile.Write(path, tmp =>
        {
            using var w = new StreamWriter(tmp, false, new System.Text.UTF8Encoding(false));
            foreach (var r in rows) w.WriteLine(r.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        });
    }
}
