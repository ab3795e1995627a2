using System.Text.Json.Nodes;

namespace Sdtt.Evaluation;

/// <summary>Options of the demo multiple-choice builder.</summary>
/// <param name="Count">Number of items.</param>
/// <param name="Choices">Choices per item (the true next sentence + distractors).</param>
/// <param name="ContextSentences">Sentences of context.</param>
/// <param name="Seed">Seed of item selection, distractors and gold position.</param>
public sealed record MultipleChoiceBuildOptions(int Count = 150, int Choices = 4, int ContextSentences = 2, int Seed = 0);

/// <summary>Builds a "which sentence continues this passage" task from a corpus: context = a few consecutive sentences of
/// one document, gold = the true next sentence, distractors = sentences of similar length from other documents. Lines are
/// lm-eval-style {"context", "choices", "gold"} with each choice starting with a space.</summary>
public static class MultipleChoiceBuilder
{
    /// <summary>Builds the items.</summary>
    public static List<MultipleChoiceItem> Build(IReadOnlyList<CorpusDocument> docs, MultipleChoiceBuildOptions? options = null)
    {
        var o = options ?? new MultipleChoiceBuildOptions();
        if (docs.Count < 2) throw new SdttException("make-mc: needs at least 2 documents (distractors come from other documents)");
        static bool Good(string s) { int w = CorpusSentences.Words(s); return w >= 6 && w <= 40; }
        var pool = docs.SelectMany((d, di) => d.Sentences.Where(Good).Select(s => (Doc: di, Text: s))).ToList();
        var positions = new List<(int Doc, int At)>();
        for (int d = 0; d < docs.Count; d++)
            for (int i = o.ContextSentences; i < docs[d].Sentences.Count; i += o.ContextSentences + 1)
                if (Good(docs[d].Sentences[i]) && Enumerable.Range(i - o.ContextSentences, o.ContextSentences).All(k => CorpusSentences.Words(docs[d].Sentences[k]) <= 60))
                    positions.Add((d, i));
        var rng = new Random(o.Seed);
        var chosen = SelfBleu.Pick(positions.Count, o.Count, o.Seed).Select(i => positions[i]).ToList();
        var items = new List<MultipleChoiceItem>();
        foreach (var (d, at) in chosen)
        {
            var s = docs[d].Sentences;
            var context = string.Join(" ", s.Skip(at - o.ContextSentences).Take(o.ContextSentences));
            var gold = s[at];
            int gw = CorpusSentences.Words(gold);
            var similar = pool.Where(p => p.Doc != d && Math.Abs(CorpusSentences.Words(p.Text) - gw) <= Math.Max(3, gw / 3)).ToList();
            if (similar.Count < o.Choices - 1) similar = pool.Where(p => p.Doc != d).ToList();
            var distractors = new List<string>();
            while (distractors.Count < o.Choices - 1)
            {
                var c = similar[rng.Next(similar.Count)].Text;
                if (c != gold && !distractors.Contains(c)) distractors.Add(c);
            }
            int g = rng.Next(o.Choices);
            distractors.Insert(g, gold);
            items.Add(new MultipleChoiceItem(context, distractors.Select(c => " " + c).ToArray(), g));
        }
        return items;
    }

    /// <summary>Writes the items as {"context", "choices", "gold"} lines, atomically.</summary>
    public static void Write(string path, IEnumerable<MultipleChoiceItem> items) =>
        JsonLines.Write(path, items.Select(it => new JsonObject
        {
            ["context"] = it.Context,
            ["choices"] = new JsonArray(it.Choices.Select(c => (JsonNode)JsonValue.Create(c)!).ToArray()),
            ["gold"] = it.Gold,
        }));
}
