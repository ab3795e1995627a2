using Sdtt.Evaluation;

namespace Sdtt.Tests.Evaluation;

public class MultipleChoiceTests
{
    static readonly EvalTokenizer Letters = LambadaTests.Letters;

    [Fact]
    public void ArLogLikelihoodAndLengthNormalisation()
    {
        var judge = FakeJudge.Successor(100);
        double hit = Math.Log(0.9), miss = Math.Log(0.1 / 99);
        // After "ab" the successor judge expects 'c'. " x" = one miss; " xyz" = miss + 2 hits (lower sum, better per byte).
        var items = new[]
        {
            new MultipleChoiceItem("ab", new[] { " cd", " ce" }, 0),
            new MultipleChoiceItem("ab", new[] { " x", " xyz" }, 1),
        };
        var r = MultipleChoice.EvaluateAr(judge, items, new MultipleChoiceOptions(BatchSize: 3), Letters);
        Assert.Equal(2 * hit, r.Scores[0][0], 1e-5);
        Assert.Equal(hit + miss, r.Scores[0][1], 1e-5);
        Assert.Equal(miss, r.Scores[1][0], 1e-5);
        Assert.Equal(miss + 2 * hit, r.Scores[1][1], 1e-5);
        Assert.Equal(0.5, r.Accuracy);       // item 2: raw score prefers " x"
        Assert.Equal(1.0, r.AccuracyNorm);   // per byte: −6.9/2 < −7.1/4
    }

    [Fact]
    public void DiffusionScoresAreNegativeNelbo()
    {
        var model = new ConstantDenoiser(100, c: 4, p: 0.6);
        var items = new[] { new MultipleChoiceItem("ab", new[] { " cd", " cc" }, 1) };
        var r = MultipleChoice.EvaluateDiffusion(model, items, new MultipleChoiceOptions(Draws: 20000, Seed: 1), Letters);
        Assert.Equal(1.0, r.Accuracy);
        double e = -0.999 * 2 * model.Nll(4);
        Assert.Equal(e, r.Scores[0][1], Math.Abs(e) * 0.05);
        Assert.Equal(20000, r.Draws);
    }

    [Fact]
    public void EncodePairMovesTrailingSpace()
    {
        var tok = EvalTokenizer.Gpt2;
        var (ctx, cont) = MultipleChoice.EncodePair(tok, "The cat ", "sat");
        Assert.Equal(tok.Encode("The cat"), ctx);
        Assert.Equal(tok.Encode(" sat"), cont);
    }

    [Fact]
    public void LoadsHarnessAliases()
    {
        var path = Path.Combine(Path.GetTempPath(), $"mc-{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(path,
            "{\"context\": \"a\", \"choices\": [\" b\", \" c\"], \"gold\": 1}\n" +
            "{\"query\": \"q\", \"endings\": [\" x\", \" y\", \" z\"], \"label\": \"2\"}\n");
        try
        {
            var items = MultipleChoice.Load(path);
            Assert.Equal(2, items.Count);
            Assert.Equal(1, items[0].Gold);
            Assert.Equal("q", items[1].Context);
            Assert.Equal(2, items[1].Gold);
            File.WriteAllText(path, "{\"context\": \"a\", \"choices\": [\" b\", \" c\"], \"gold\": 5}\n");
            Assert.Throws<SdttException>(() => MultipleChoice.Load(path));
        }
        finally { File.Delete(path); }
    }
}
