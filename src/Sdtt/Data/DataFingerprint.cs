using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Sdtt.Data;

/// <summary>Identifies the content of a token split, so a resumed run can tell a different folder of the same shape from
/// the one it was trained on: the SHA-256 that <c>sdtt prepare</c> recorded in manifest.json, or (for folders written
/// otherwise) the SHA-256 of the file, computed once.</summary>
public static class DataFingerprint
{
    /// <summary>"sha256:…" of <paramref name="data"/>'s file.</summary>
    public static string Of(TokenDataset data)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(data.Path))!;
        var file = Path.GetFileName(data.Path);
        var manifest = Path.Combine(dir, TokenDataset.ManifestFile);
        try
        {
            if (File.Exists(manifest) && JsonNode.Parse(File.ReadAllText(manifest))?["splits"] is JsonObject splits)
                foreach (var (_, s) in splits)
                    if (s?["file"]?.GetValue<string>() == file && s["sha256"]?.GetValue<string>() is { Length: 64 } h)
                        return "sha256:" + h.ToLowerInvariant();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException) { /* hash the file below */ }
        try
        {
            using var f = File.OpenRead(data.Path);
            return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(f));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SdttException($"{data.Path}: cannot read ({e.Message})");
        }
    }
}
