using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Sdtt.Configuration;

/// <summary>The one JSON layer of every config (model, training, distillation): the System.Text.Json setup for
/// snake_case records, typed field readers with one-line errors naming the file and field, and the loading of a
/// preset or a partial JSON file over a preset's defaults.</summary>
public static class ConfigJson
{
    /// <summary>snake_case records, unknown members rejected, enums as snake_case strings, indented output.</summary>
    public static JsonSerializerOptions SnakeCase { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>Parses a JSON object; anything else is a one-line error naming <paramref name="source"/>.</summary>
    public static JsonObject ParseObject(string json, string source)
    {
        try { return JsonNode.Parse(json)?.AsObject() ?? throw new JsonException("empty"); }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        { throw new SdttException($"{source}: not valid JSON ({e.Message})"); }
    }

    /// <summary>Whether <paramref name="nameOrFile"/> names a JSON file (an existing file or a *.json path) rather than a preset.</summary>
    public static bool IsFile(string nameOrFile) =>
        File.Exists(nameOrFile) || nameOrFile.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

    /// <summary>The JSON tree of a preset name, or of a (possibly partial) JSON file laid over <paramref name="fileDefaults"/>:
    /// a file may leave out any field, but every key it names must exist in the defaults. Returns the tree and the
    /// source name for error messages.</summary>
    public static (JsonObject Root, string Source) Load(string nameOrFile, Func<string, JsonObject> preset, Func<JsonObject> fileDefaults)
    {
        if (!IsFile(nameOrFile)) return (preset(nameOrFile), $"config '{nameOrFile}'");
        if (!File.Exists(nameOrFile)) throw new SdttException($"{nameOrFile}: config file not found");
        JsonObject file;
        try { file = JsonNode.Parse(File.ReadAllText(nameOrFile))?.AsObject() ?? throw new SdttException($"{nameOrFile}: empty config"); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new SdttException($"{nameOrFile}: not valid JSON ({e.Message})"); }
        return (Merge(fileDefaults(), file, nameOrFile), nameOrFile);
    }

    /// <summary>Lays <paramref name="file"/> over <paramref name="defaults"/> section by section (in place); unknown keys are errors.</summary>
    public static JsonObject Merge(JsonObject defaults, JsonObject file, string source)
    {
        foreach (var (k, v) in file)
        {
            if (!defaults.ContainsKey(k)) throw new SdttException($"{source}: unknown key '{k}' (expected {string.Join(", ", defaults.Select(x => x.Key))})");
            if (defaults[k] is JsonObject d)
            {
                if (v is not JsonObject o) throw new SdttException($"{source}: '{k}' must be an object");
                foreach (var (k2, v2) in o)
                {
                    if (!d.ContainsKey(k2)) throw new SdttException($"{source}: unknown key '{k}.{k2}' (known: {string.Join(", ", d.Select(x => x.Key))})");
                    d[k2] = v2?.DeepClone();
                }
            }
            else defaults[k] = v?.DeepClone();
        }
        return defaults;
    }

    /// <summary>Deserializes section <paramref name="name"/> of <paramref name="root"/> as a snake_case record
    /// (<paramref name="empty"/> when absent); a bad value is a one-line error naming the field.</summary>
    public static T Section<T>(JsonObject root, string name, string source, Func<T> empty)
    {
        if (root[name] is null) return empty();
        try { return root[name].Deserialize<T>(SnakeCase) ?? empty(); }
        catch (JsonException e)
        {
            var path = e.Path is { Length: > 2 } p ? $"{name}.{p[2..]}" : name;
            throw new SdttException($"{source}: bad value for {path} ({e.Message.Split(". Path")[0].Split('\n')[0]})");
        }
    }

    /// <summary>An error for a required field that is missing.</summary>
    public static Exception Missing(string source, string key) => new SdttException($"{source}: required field '{key}' is missing");

    /// <summary>A required integer field.</summary>
    public static int Required(JsonObject o, string key, string source) => Int(o, key) ?? throw Missing(source, key);

    /// <summary>An optional number field, truncated to an integer (HF configs write some sizes as floats).</summary>
    public static int? Int(JsonObject o, string key) => o[key] is JsonValue v ? (int)v.GetValue<double>() : null;

    /// <summary>An optional number field.</summary>
    public static double? Double(JsonObject o, string key) => o[key] is JsonValue v ? v.GetValue<double>() : null;

    /// <summary>An optional boolean field.</summary>
    public static bool? Bool(JsonObject o, string key) => o[key] is JsonValue v ? v.GetValue<bool>() : null;

    /// <summary>A number node as a double, or null when it is not a number.</summary>
    public static double? Number(JsonNode n) =>
        n is JsonValue v && v.GetValueKind() == JsonValueKind.Number
            ? double.Parse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture) : null;

    /// <summary>A strictly integral number; otherwise a one-line error naming the field.</summary>
    public static int AsInt(JsonNode n, string field, string source) =>
        Number(n) is { } d && d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue ? (int)d
            : throw new SdttException($"{source}: {field} must be an integer (got {n.ToJsonString()})");

    /// <summary>A number; otherwise a one-line error naming the field.</summary>
    public static double AsDouble(JsonNode n, string field, string source) =>
        Number(n) is { } d ? d
            : throw new SdttException($"{source}: {field} must be a number (got {n.ToJsonString()})");

    /// <summary>A boolean; otherwise a one-line error naming the field.</summary>
    public static bool AsBool(JsonNode n, string field, string source) =>
        n is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False ? v.GetValue<bool>()
            : throw new SdttException($"{source}: {field} must be true or false (got {n.ToJsonString()})");
}
