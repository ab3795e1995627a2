using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sdtt.Configuration;

/// <summary>The one <c>--set key=value</c> parser of <c>sdtt train</c> and <c>sdtt distill</c>: a key is
/// <c>section.field</c> or a bare field name found in exactly one section; the value takes the type of the field it
/// replaces (number, boolean or string). Unknown keys get a suggestion.</summary>
public static class ConfigOverrides
{
    /// <summary>Applies every assignment in order to <paramref name="root"/>, whose sections are its object-valued keys.</summary>
    public static void Apply(JsonObject root, IEnumerable<string>? assignments)
    {
        foreach (var s in assignments ?? Array.Empty<string>()) Apply(root, s);
    }

    /// <summary>Applies one <c>key=value</c> assignment to <paramref name="root"/> in place.</summary>
    public static void Apply(JsonObject root, string assignment)
    {
        int eq = assignment.IndexOf('=');
        if (eq <= 0) throw new SdttException($"--set '{assignment}': expected key=value");
        string key = assignment[..eq].Trim(), raw = assignment[(eq + 1)..].Trim();
        var parts = key.Split('.');
        JsonObject parent;
        string field;
        if (parts.Length == 1)
        {
            if (root.ContainsKey(key) && root[key] is not JsonObject) { parent = root; field = key; }
            else
            {
                var hits = root.Where(s => s.Value is JsonObject o && o.ContainsKey(key)).Select(s => s.Key).ToList();
                if (hits.Count == 0) throw new SdttException($"--set {key}: unknown key{Suggest(root, key)}");
                if (hits.Count > 1) throw new SdttException($"--set {key}: ambiguous, use one of {string.Join(", ", hits.Select(h => h + "." + key))}");
                parent = (JsonObject)root[hits[0]]!;
                field = key;
            }
        }
        else if (parts.Length == 2 && root[parts[0]] is JsonObject sec && sec.ContainsKey(parts[1])) { parent = sec; field = parts[1]; }
        else throw new SdttException($"--set {key}: unknown key{Suggest(root, parts[^1])}");

        var old = parent[field];
        JsonNode? value = old?.GetValueKind() switch
        {
            JsonValueKind.Number => double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
                ? (Math.Abs(d) < 1e15 && d == Math.Floor(d) && !raw.Contains('.') && !raw.Contains('e') && !raw.Contains('E') ? JsonValue.Create((long)d) : JsonValue.Create(d))
                : throw new SdttException($"--set {key}={raw}: expected a number"),
            JsonValueKind.True or JsonValueKind.False => bool.TryParse(raw, out var b) ? JsonValue.Create(b)
                : throw new SdttException($"--set {key}={raw}: expected true or false"),
            JsonValueKind.String => JsonValue.Create(raw),
            _ => throw new SdttException($"--set {key}: cannot override a {old?.GetValueKind().ToString().ToLowerInvariant() ?? "null"} field"),
        };
        parent[field] = value;
    }

    private static string Suggest(JsonObject root, string key)
    {
        var all = new List<string>();
        foreach (var (k, v) in root)
        {
            if (v is JsonObject o) all.AddRange(o.Select(x => $"{k}.{x.Key}"));
            else all.Add(k);
        }
        string Leaf(string a) => a.Split('.')[^1];
        var close = all.Where(a => Distance(Leaf(a), key) <= Math.Max(1, key.Length / 4)
            || Leaf(a).Contains(key, StringComparison.OrdinalIgnoreCase) || key.Contains(Leaf(a), StringComparison.OrdinalIgnoreCase)).Take(5).ToList();
        return close.Count > 0 ? $" (did you mean {string.Join(", ", close)}?)" : $" (known keys: {string.Join(", ", all)})";
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1));
        return d[a.Length, b.Length];
    }
}
