using System.Text.Json.Nodes;
using Sdtt.Data;

namespace Sdtt.Evaluation;

/// <summary>Generated samples: token ids (GPT-2 vocabulary for real models) and their decoded text.</summary>
public sealed record SampleSet(List<int[]> Tokens, List<string> Texts, bool FromText)
{
    /// <summary>Samples from ids (texts decoded with GPT-2, markers kept).</summary>
    public static SampleSet FromIds(IEnumerable<int[]> ids)
    {
        var t = ids.ToList();
        return new SampleSet(t, t.Select(x => Gpt2Tokenizer.Instance.Decode(x)).ToList(), false);
    }
}

/// <summary>Reads and writes sample files: JSONL with per line "tokens" (or "ids") = an int array, or "text" = a string
/// (encoded with GPT-2, "&lt;|endoftext|&gt;" → 50256); a bare JSON array of ints per line also works.</summary>
public static class SampleFile
{
    /// <summary>Reads a samples file.</summary>
    public static SampleSet Read(string path, int limit = 0)
    {
        if (!File.Exists(path)) throw new SdttException($"{path}: samples file not found");
        var tokens = new List<int[]>();
        var texts = new List<string>();
        bool anyText = false;
        int n = 0;
        foreach (var line in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonNode? node;
            try { node = JsonNode.Parse(line); }
            catch (System.Text.Json.JsonException e) { throw new SdttException($"{path}:{n}: not valid JSON ({e.Message.Split('\n')[0]})"); }
            JsonArray? arr = node as JsonArray ?? (node as JsonObject)?["tokens"] as JsonArray ?? (node as JsonObject)?["ids"] as JsonArray;
            if (arr is not null)
            {
                int[] ids;
                try { ids = arr.Select(v => v!.GetValue<int>()).ToArray(); }
                catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
                { throw new SdttException($"{path}:{n}: \"tokens\" must be an array of integers"); }
                tokens.Add(ids);
                texts.Add((node as JsonObject)?["text"]?.GetValue<string>() ?? Gpt2Tokenizer.Instance.Decode(ids));
            }
            else if ((node as JsonObject)?["text"]?.GetValue<string>() is string text)
            {
                anyText = true;
                texts.Add(text);
                tokens.Add(GenerativePerplexity.EncodeWithEndOfText(text));
            }
            else throw new SdttException($"{path}:{n}: expected \"tokens\" (int array) or \"text\" (string)");
            if (limit > 0 && tokens.Count >= limit) break;
        }
        if (tokens.Count == 0) throw new SdttException($"{path}: no samples");
        return new SampleSet(tokens, texts, anyText);
    }

    /// <summary>Writes samples as {"tokens": [...], "text": "..."} lines, atomically.</summary>
    public static void Write(string path, IEnumerable<int[]> samples) =>
        JsonLines.Write(path, samples.Select(s => new JsonObject
        {
            ["tokens"] = new JsonArray(s.Select(v => (JsonNode)JsonValue.Create(v)!).ToArray()),
            ["text"] = Gpt2Tokenizer.Instance.DecodeClean(s.Where(v => v >= 0 && v <= Gpt2Tokenizer.Mask)),
        }));
}
