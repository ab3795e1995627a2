using System.Text.RegularExpressions;

namespace Sdtt.Evaluation;

/// <summary>A document of a text corpus split into sentences.</summary>
public sealed record CorpusDocument(string Name, IReadOnlyList<string> Sentences);

/// <summary>Splits a folder of .txt files (e.g. the bundled data/sotu) into sentences with a simple rule: a sentence ends at
/// '.', '!' or '?' followed by whitespace and an upper-case letter or quote, except after common abbreviations.</summary>
public static partial class CorpusSentences
{
    static readonly HashSet<string> Abbreviations = new(StringComparer.OrdinalIgnoreCase)
    { "mr", "mrs", "ms", "dr", "st", "gen", "gov", "sen", "rep", "jr", "sr", "no", "vs", "etc", "i.e", "e.g", "u.s", "u.s.a", "inc", "co", "lt", "col", "capt", "hon", "messrs", "jan", "feb", "aug", "sept", "oct", "nov", "dec" };

    [GeneratedRegex(@"(?<=[.!?][""']?)\s+(?=[""']?[A-Z])")]
    private static partial Regex Boundary();

    /// <summary>Reads every .txt file of <paramref name="dir"/> (sorted by name) as one document.</summary>
    public static List<CorpusDocument> Read(string dir)
    {
        if (!Directory.Exists(dir)) throw new SdttException($"{dir}: corpus folder not found");
        var files = Directory.GetFiles(dir, "*.txt").OrderBy(f => f, StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new SdttException($"{dir}: no .txt files");
        return files.Select(f => new CorpusDocument(Path.GetFileNameWithoutExtension(f), Split(File.ReadAllText(f)))).ToList();
    }

    /// <summary>Sentences of a text (whitespace collapsed).</summary>
    public static List<string> Split(string text)
    {
        text = Regex.Replace(text, @"\s+", " ").Trim();
        var parts = Boundary().Split(text);
        var sentences = new List<string>();
        string pending = "";
        foreach (var p in parts)
        {
            var s = pending.Length > 0 ? pending + " " + p : p;
            var lastWord = s.TrimEnd('.', '!', '?', '"', '\'').Split(' ').LastOrDefault() ?? "";
            if (s.EndsWith('.') && (Abbreviations.Contains(lastWord) || (lastWord.Length == 1 && char.IsUpper(lastWord[0])))) { pending = s; continue; }
            pending = "";
            if (s.Length > 0) sentences.Add(s);
        }
        if (pending.Length > 0) sentences.Add(pending);
        return sentences;
    }

    /// <summary>Number of space-separated words.</summary>
    public static int Words(string s) => s.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
}
