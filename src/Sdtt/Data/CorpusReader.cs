using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Sdtt.Data;

/// <summary>The reading side of corpus preparation: finds the .txt/.jsonl files of a folder in ordinal path order and
/// yields their documents (strict UTF-8, one per .txt file or per JSONL line), hashing every file as it is read.</summary>
internal static class CorpusReader
{
    internal static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    internal sealed record SourceFile(int Index, string FullPath, string RelPath, long Bytes, bool Jsonl);
    internal readonly record struct Document(int FileIndex, long Line, string Text);

    internal static List<SourceFile> FindSources(string inputDir)
    {
        if (!Directory.Exists(inputDir)) throw new SdttException($"{inputDir}: input folder not found");
        var root = Path.GetFullPath(inputDir);
        var found = new List<(string Full, string Rel)>();
        try
        {
            var opts = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = false, MatchType = MatchType.Simple };
            foreach (var f in Directory.EnumerateFiles(root, "*", opts))
            {
                var ext = Path.GetExtension(f);
                if (!ext.Equals(".txt", StringComparison.OrdinalIgnoreCase) && !ext.Equals(".jsonl", StringComparison.OrdinalIgnoreCase)) continue;
                found.Add((f, Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/')));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SdttException($"{inputDir}: cannot list the input folder ({e.Message})");
        }
        if (found.Count == 0) throw new SdttException($"{inputDir}: no .txt or .jsonl files found (searched recursively)");
        found.Sort((a, b) => string.CompareOrdinal(a.Rel, b.Rel));
        return found.Select((f, i) => new SourceFile(i, f.Full, f.Rel, new FileInfo(f.Full).Length,
            Path.GetExtension(f.Full).Equals(".jsonl", StringComparison.OrdinalIgnoreCase))).ToList();
    }

    /// <summary>Documents of all files in ordinal path order; fills <paramref name="sources"/> as each file is finished.</summary>
    internal static IEnumerable<Document> ReadDocuments(List<SourceFile> files, PreparedSource[] sources, CancellationToken cancel)
    {
        foreach (var f in files)
        {
            cancel.ThrowIfCancellationRequested();
            if (!f.Jsonl)
            {
                byte[] bytes;
                try { bytes = File.ReadAllBytes(f.FullPath); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw Unreadable(f, e); }
                var text = Decode(bytes, f, 0, 0);
                sources[f.Index] = new PreparedSource(f.RelPath, bytes.LongLength, Convert.ToHexStringLower(SHA256.HashData(bytes)), 1);
                yield return new Document(f.Index, 0, text);
                continue;
            }
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long count = 0, size = 0;
            foreach (var (lineNo, lineBytes, lineStart) in ReadLines(f, sha, b => size += b))
            {
                var line = Decode(lineBytes, f, lineNo, lineStart);
                if (string.IsNullOrWhiteSpace(line)) continue;
                count++;
                yield return new Document(f.Index, lineNo, ParseJsonlText(line, f, lineNo));
            }
            sources[f.Index] = new PreparedSource(f.RelPath, size, Convert.ToHexStringLower(sha.GetHashAndReset()), count);
        }
    }

    /// <summary>Splits a file into lines on '\n' (a trailing '\r' is removed), hashing every byte read.</summary>
    internal static IEnumerable<(long LineNo, byte[] Bytes, long Offset)> ReadLines(SourceFile f, IncrementalHash sha, Action<int> onRead)
    {
        FileStream fs;
        try { fs = new FileStream(f.FullPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw Unreadable(f, e); }
        using (fs)
        {
            var buf = new byte[1 << 20];
            var pending = new MemoryStream();
            long lineNo = 1, offset = 0, lineStart = 0;
            while (true)
            {
                int n;
                try { n = fs.Read(buf, 0, buf.Length); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw Unreadable(f, e); }
                if (n == 0) break;
                sha.AppendData(buf, 0, n);
                onRead(n);
                int start = 0;
                for (int i = 0; i < n; i++)
                {
                    if (buf[i] != (byte)'\n') continue;
                    pending.Write(buf, start, i - start);
                    yield return (lineNo++, TrimCr(pending), lineStart);
                    pending.SetLength(0);
                    start = i + 1;
                    lineStart = offset + i + 1;
                }
                pending.Write(buf, start, n - start);
                offset += n;
            }
            if (pending.Length > 0) yield return (lineNo, TrimCr(pending), lineStart);
        }
    }

    internal static byte[] TrimCr(MemoryStream ms)
    {
        var a = ms.ToArray();
        return a.Length > 0 && a[^1] == (byte)'\r' ? a[..^1] : a;
    }

    internal static string Decode(byte[] bytes, SourceFile f, long lineNo, long offset)
    {
        try
        {
            var s = StrictUtf8.GetString(bytes);
            return (lineNo <= 1 && s.Length > 0 && s[0] == '\uFEFF') ? s[1..] : s; // a leading byte-order mark is not text
        }
        catch (DecoderFallbackException e)
        {
            long at = offset + Math.Max(e.Index, 0);
            throw new SdttException(lineNo > 0
                ? $"{f.FullPath}:{lineNo}: invalid UTF-8 (byte offset {at})"
                : $"{f.FullPath}: invalid UTF-8 at byte offset {at}");
        }
    }

    internal static string ParseJsonlText(string line, SourceFile f, long lineNo)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SdttException($"{f.FullPath}:{lineNo}: expected a JSON object with a \"text\" field, got {doc.RootElement.ValueKind}");
            if (!doc.RootElement.TryGetProperty("text", out var text))
                throw new SdttException($"{f.FullPath}:{lineNo}: the JSON object has no \"text\" field");
            if (text.ValueKind != JsonValueKind.String)
                throw new SdttException($"{f.FullPath}:{lineNo}: \"text\" is {text.ValueKind}, expected a string");
            return text.GetString()!;
        }
        catch (JsonException e)
        {
            throw new SdttException($"{f.FullPath}:{lineNo}: not valid JSON ({e.Message.Split('\n')[0]})");
        }
    }

    internal static SdttException Unreadable(SourceFile f, Exception e) => new($"{f.FullPath}: cannot read ({e.Message})");
}
