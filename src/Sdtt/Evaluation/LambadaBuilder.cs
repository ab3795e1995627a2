using System.Text.Json.Nodes;

namespace Sdtt.Evaluation;

/// <summary>Options of the LAMBADA-style file builder.</summary>
/// <param name="Count">Number of passages.</param>
/// <param name="MinWords">Shortest passage (words).</param>
/// <param name="MaxWords">Longest passage (words).</param>
/// <param name="Seed">Seed of the final selection.</param>
public sealed record LambadaBuildOptions(int Count = 300, int MinWords = 35, int MaxWords = 90, int Seed = 0);

/// <summary>Builds a LAMBADA-style JSONL file ({"text": ...} per line) from a text corpus: passages of consecutive sentences
/// that end at a sentence end ('.') whose last word is a content word (letters only, ≥ 4 letters, not a stop word) that also
/// occurs earlier in the passage (so the context supports guessing it, in the spirit of LAMBADA); the final period is
/// dropped so that each text ends with its target word.</summary>
public static class LambadaBuilder
{
    internal static readonly HashSet<string> StopWords = new(StringComparer.OrdinalIgnoreCase)
    {
        "about", "above", "after", "again", "against", "also", "been", "before", "being", "below", "between", "both", "could",
        "does", "doing", "down", "during", "each", "from", "further", "have", "having", "here", "herself", "himself", "into",
        "itself", "just", "more", "most", "much", "must", "myself", "only", "other", "ours", "ourselves", "over", "same", "shall",
        "should", "some", "such", "than", "that", "their", "theirs", "them", "themselves", "then", "there", "these", "they",
        "this", "those", "through", "under", "until", "upon", "very", "were", "what", "when", "where", "which", "while", "whom",
        "will", "with", "would", "your", "yours", "yourself", "thereof", "therein", "within", "without", "well", "made", "make",
        "done", "said", "many", "even", "still", "every", "like", "another", "whose", "because", "since", "though", "among",
    };

    /// <summary>The passages (texts ending with their target word), in corpus order.</summary>
    public static List<string> Build(IReadOnlyList<CorpusDocument> docs, LambadaBuildOptions? options = null)
    {
        var o = options ?? new LambadaBuildOptions();
        var candidates = new List<string>();
        foreach (var doc in docs)
        {
            var s = doc.Sentences;
            int i = 0;
            while (i < s.Count)
            {
                bool found = false;
                int words = 0;
                for (int j = i; j < s.Count && words <= o.MaxWords; j++)
                {
                    words += CorpusSentences.Words(s[j]);
                    if (words < o.MinWords || words > o.MaxWords) continue;
                    var passage = string.Join(" ", s.Skip(i).Take(j - i + 1));
                    if (Accept(passage) is string text)
                    {
                        candidates.Add(text);
                        i = j + 1; // passages do not overlap
                        found = true;
                        break;
                    }
                }
                if (!found) i++;
            }
        }
        if (candidates.Count == 0) throw new SdttException("make-lambada: no passage qualifies (is the corpus too small?)");
        if (candidates.Count <= o.Count) return candidates;
        var pick = SelfBleu.Pick(candidates.Count, o.Count, o.Seed);
        return pick.Select(i => candidates[i]).ToList();
    }

    /// <summary>The passage without its final period if its last word qualifies, else null.</summary>
    public static string? Accept(string passage)
    {
        if (!passage.EndsWith('.') || passage.EndsWith("..")) return null;
        var text = passage[..^1];
        int sp = text.LastIndexOf(' ');
        if (sp <= 0) return null;
        var word = text[(sp + 1)..];
        if (word.Length < 4 || !word.All(char.IsAsciiLetter) || StopWords.Contains(word)) return null;
        var context = text[..sp];
        var ctxWords = context.Split(' ').Select(w => w.Trim(',', ';', ':', '.', '"', '\'', '(', ')', '!', '?'));
        if (!ctxWords.Any(w => string.Equals(w, word, StringComparison.OrdinalIgnoreCase))) return null;
        return text;
    }

    /// <summary>Writes the passages as {"text": ...} lines, atomically.</summary>
    public static void Write(string path, IEnumerable<string> texts) =>
        JsonLines.Write(path, texts.Select(t => new JsonObject { ["text"] = t }));
}
