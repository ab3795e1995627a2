using Sdtt.Evaluation;

namespace Sdtt.Tests.Evaluation;

public class BuilderTests
{
    static readonly Lazy<List<CorpusDocument>> Corpus = new(() => CorpusSentences.Read(Path.Combine(EvalRunnerTests.RepoRoot, "data", "sotu")));

    [Fact]
    public void SentenceSplitterKeepsAbbreviations()
    {
        var s = CorpusSentences.Split("Mr. Speaker, the U.S. economy grew.  It is strong! Is it? \"Yes.\" Then we go.");
        Assert.Equal(new[] { "Mr. Speaker, the U.S. economy grew.", "It is strong!", "Is it?", "\"Yes.\"", "Then we go." }, s);
    }

    [Fact]
    public void LambadaPassagesEndWithAContentWordSeenInContext()
    {
        var texts = LambadaBuilder.Build(Corpus.Value, new LambadaBuildOptions(Count: 300));
        Assert.Equal(300, texts.Count);
        Assert.Equal(texts.Count, texts.Distinct().Count());
        foreach (var t in texts)
        {
            var e = Lambada.Split(t);
            var word = e.Word[1..];
            Assert.True(word.Length >= 4 && word.All(char.IsAsciiLetter), t);
            Assert.Contains(word.ToLowerInvariant(), e.Prefix.ToLowerInvariant());
            int words = t.Split(' ').Length;
            Assert.InRange(words, 35, 90);
        }
        Assert.Null(LambadaBuilder.Accept("the cat saw the other."));   // stop word
        Assert.Null(LambadaBuilder.Accept("the dog saw a cat."));        // short word, not in context
        Assert.Equal("a tree is a tree", LambadaBuilder.Accept("a tree is a tree."));
    }

    [Fact]
    public void ShippedFilesMatchTheBuildersAndAreSmall()
    {
        var lam = Path.Combine(EvalRunnerTests.RepoRoot, "data", "lambada-sotu.jsonl");
        var mc = Path.Combine(EvalRunnerTests.RepoRoot, "data", "mc-sotu.jsonl");
        Assert.True(new FileInfo(lam).Length < 300 * 1024);
        Assert.True(new FileInfo(mc).Length < 300 * 1024);
        var shipped = Lambada.Load(lam).Select(e => e.Text).ToList();
        Assert.Equal(LambadaBuilder.Build(Corpus.Value), shipped);
        var items = MultipleChoice.Load(mc);
        var built = MultipleChoiceBuilder.Build(Corpus.Value);
        Assert.Equal(built.Count, items.Count);
        Assert.Equal(built.Select(i => i.Gold), items.Select(i => i.Gold));
        Assert.Equal(built[7].Choices, items[7].Choices);
    }

    [Fact]
    public void MultipleChoiceGoldIsTheTrueNextSentence()
    {
        var docs = Corpus.Value;
        var items = MultipleChoiceBuilder.Build(docs, new MultipleChoiceBuildOptions(Count: 60));
        Assert.Equal(60, items.Count);
        var sentencesByDoc = docs.Select(d => d.Sentences.ToList()).ToList();
        foreach (var it in items)
        {
            Assert.Equal(4, it.Choices.Length);
            Assert.Equal(4, it.Choices.Distinct().Count());
            Assert.All(it.Choices, c => Assert.StartsWith(" ", c));
            // The gold sentence directly follows the context in some document; the distractors come from other documents.
            var doc = sentencesByDoc.Single(s => string.Join(" ", s).Contains(it.Context + it.Choices[it.Gold]));
            for (int c = 0; c < 4; c++)
                if (c != it.Gold) Assert.DoesNotContain(it.Choices[c][1..], doc);
        }
        Assert.True(items.Select(i => i.Gold).Distinct().Count() > 1);
    }
}
