using Sdtt.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Tests.Evaluation;

public class LambadaTests
{
    /// <summary>Letters a..z → 2..27, spaces dropped, BOS = EOS = 1.</summary>
    internal static readonly EvalTokenizer Letters = new(s => s.Where(c => c != ' ').Select(c => c - 'a' + 2).ToArray(), 1, 1);

    [Fact]
    public void SplitsAtLastSpace()
    {
        var e = Lambada.Split("he said it to the  man");
        Assert.Equal("he said it to the ", e.Prefix);
        Assert.Equal(" man", e.Word);
        Assert.Equal("he said it to the  man", e.Text);
        Assert.Throws<SdttException>(() => Lambada.Split("word"));
    }

    [Fact]
    public void DiffusionAccuracyAndNelboMatchAnalyticDenoiser()
    {
        // p = 0.6 on 'c' (id 4) at masked positions; the rest uniform over the other 97 real tokens.
        var model = new ConstantDenoiser(100, c: 4, p: 0.6);
        var ex = new[] { Lambada.Split("ab cc"), Lambada.Split("ab cd") };
        var r = Lambada.EvaluateDiffusion(model, ex, new LambadaOptions(Draws: 20000, Seed: 3), Letters);
        Assert.Equal(new[] { true, false }, r.Correct);
        Assert.Equal(0.5, r.Accuracy);
        // E[Σ_masked nll / t] = Σ nll · m(t)/t = 0.999 Σ nll.
        double e1 = 0.999 * 2 * model.Nll(4), e2 = 0.999 * (model.Nll(4) + model.Nll(5));
        Assert.Equal(e1, r.WordNll[0], e1 * 0.05);
        Assert.Equal(e2, r.WordNll[1], e2 * 0.05);
        Assert.Equal(Math.Exp((r.WordNll[0] + r.WordNll[1]) / 2), r.Perplexity, 1e-9);
    }

    [Fact]
    public void DiffusionPlumbingOnTinyDit()
    {
        using var model = Golden.TinyModel();
        var ex = new[] { Lambada.Split("the quick brown fox jumps over the lazy dog"), Lambada.Split("a stitch in time saves nine") };
        var r1 = Lambada.EvaluateDiffusion(model, ex, new LambadaOptions(Draws: 8, Seed: 1), CharTokenizer.Instance);
        var r2 = Lambada.EvaluateDiffusion(model, ex, new LambadaOptions(Draws: 8, Seed: 1), CharTokenizer.Instance);
        var r3 = Lambada.EvaluateDiffusion(model, ex, new LambadaOptions(Draws: 8, Seed: 2), CharTokenizer.Instance);
        Assert.Equal(r1.WordNll, r2.WordNll);
        Assert.NotEqual(r1.WordNll, r3.WordNll);
        Assert.All(r1.WordNll, v => Assert.True(v > 0 && double.IsFinite(v)));

        // Single-pass accuracy agrees with a full forward pass and an argmax over the real tokens.
        var tok = CharTokenizer.Instance;
        foreach (var e in ex)
        {
            var seq = new List<int> { tok.Bos };
            seq.AddRange(tok.Encode(e.Prefix));
            int from = seq.Count;
            seq.AddRange(tok.Encode(e.Word));
            int to = seq.Count;
            seq.Add(tok.Eos);
            var ids = seq.Select(t => (long)t).ToArray();
            for (int j = from; j < to; j++) ids[j] = model.MaskIndex;
            using var lp = model.LogProbs(tensor(ids, new long[] { 1, ids.Length }));
            var pred = lp[0, from..to, ..model.MaskIndex].argmax(-1).data<long>().ToArray();
            bool expected = pred.Select((p, k) => p == seq[from + k]).All(b => b);
            Assert.Equal(expected, Lambada.SinglePassCorrect(model, seq, from, to));
            // Forcing the prediction as the truth must make it correct.
            var forced = new List<int>(seq);
            for (int k = 0; k < pred.Length; k++) forced[from + k] = (int)pred[k];
            Assert.True(Lambada.SinglePassCorrect(model, forced, from, to));
        }
    }

    [Fact]
    public void ArTeacherForcedAccuracyAndPerplexity()
    {
        var judge = FakeJudge.Successor(100);
        var ex = new[] { Lambada.Split("a b"), Lambada.Split("a c"), Lambada.Split("ab cd") };
        var r = Lambada.EvaluateAr(judge, ex, new LambadaOptions(BatchSize: 2), Letters);
        double hit = -Math.Log(0.9), miss = -Math.Log(0.1 / 99);
        Assert.Equal(new[] { true, false, true }, r.Correct);
        Assert.Equal(hit, r.WordNll[0], 1e-5);
        Assert.Equal(miss, r.WordNll[1], 1e-5);
        Assert.Equal(2 * hit, r.WordNll[2], 1e-5);
        Assert.Equal(Math.Exp((3 * hit + miss) / 3), r.Perplexity, 1e-4);
    }

    [Fact]
    public void LoadsJsonlTextField()
    {
        var path = Path.Combine(Path.GetTempPath(), $"lambada-{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(path, "{\"text\": \"one two three\"}\n\n{\"text\": \"four five\"}\n");
        try
        {
            var ex = Lambada.Load(path);
            Assert.Equal(2, ex.Count);
            Assert.Equal(" three", ex[0].Word);
            File.WriteAllText(path, "{\"txt\": \"x y\"}\n");
            var err = Assert.Throws<SdttException>(() => Lambada.Load(path));
            Assert.Contains(":1:", err.Message);
        }
        finally { File.Delete(path); }
    }
}
