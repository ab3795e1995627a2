using Sdtt.Data;
using Sdtt.Evaluation;

namespace Sdtt.Tests.Evaluation;

public class GenerativePerplexityTests
{
    [Fact]
    public void UniformJudgeGivesVocabularySize()
    {
        var judge = FakeJudge.Uniform(500);
        var samples = new List<int[]> { new[] { 1, 2, 3, 4, 5 }, new[] { 7, 7, 7 }, new[] { 499, 0, 12, 3, 3, 3, 9 } };
        var r = GenerativePerplexity.Sdtt(judge, samples, batchSize: 2);
        Assert.Equal(500, r.Perplexity, 500 * 1e-6); // float32 log-probs
        Assert.Equal(4 + 2 + 6, r.Tokens);
        Assert.Equal(2, judge.Calls);
        var m = GenerativePerplexity.MdlmTokens(judge, samples, batchSize: 8);
        Assert.Equal(500, m.Perplexity, 500 * 1e-6);
    }

    [Fact]
    public void SdttAveragesPerSampleWhileMdlmWeightsTokens()
    {
        // Successor judge: log 0.9 for x_l = x_{l-1}+1, log(0.1/(V-1)) otherwise.
        const int v = 10;
        var judge = FakeJudge.Successor(v);
        double a = -Math.Log(0.9), b = -Math.Log(0.1 / (v - 1));
        var s1 = new[] { 1, 2, 3, 4, 5 };          // 4 hits
        var s2 = new[] { 1, 1, 1 };                // 2 misses
        var r = GenerativePerplexity.Sdtt(judge, new[] { s1, s2 });
        double expected = (a + b) / 2;             // mean of per-sample means (4a/4 and 2b/2)
        Assert.Equal(expected, r.MeanNll, 5);
        Assert.Equal(Math.Exp(expected), r.Perplexity, 3);
        var m = GenerativePerplexity.MdlmTokens(judge, new[] { s1, s2 });
        Assert.Equal((4 * a + 2 * b) / 6, m.MeanNll, 5);
    }

    [Fact]
    public void MdlmWeightsCountFirstEosOnly()
    {
        const int eos = Gpt2Tokenizer.Eos;
        Assert.Equal(new float[] { 1, 1, 1, 0, 0 }, GenerativePerplexity.MdlmWeights(new[] { 5, 6, eos, 7, eos, eos }));
        // A leading EOS (BOS) is the first EOS: later EOS targets do not count.
        Assert.Equal(new float[] { 1, 0, 1 }, GenerativePerplexity.MdlmWeights(new[] { eos, 5, eos, 6 }));
    }

    [Fact]
    public void MdlmRetokenisesTextAndKeepsEndOfText()
    {
        var ids = GenerativePerplexity.EncodeWithEndOfText("Hello world<|endoftext|> Again");
        var expected = Gpt2Tokenizer.Instance.Encode("Hello world").Append(Gpt2Tokenizer.Eos).Concat(Gpt2Tokenizer.Instance.Encode(" Again")).ToArray();
        Assert.Equal(expected, ids);
        var judge = FakeJudge.Uniform(Gpt2Tokenizer.TextVocabSize);
        var r = GenerativePerplexity.MdlmFromIds(judge, new[] { ids });
        Assert.Equal(Gpt2Tokenizer.TextVocabSize, r.Perplexity, Gpt2Tokenizer.TextVocabSize * 1e-6);
        Assert.Equal(ids.Length - 1, r.Tokens);
    }

    [Fact]
    public void RejectsMaskTokensAndTooLongSamples()
    {
        var judge = FakeJudge.Uniform(50, maxLength: 4);
        Assert.Throws<SdttException>(() => GenerativePerplexity.Sdtt(judge, new[] { new[] { 1, 50 } }));
        Assert.Throws<SdttException>(() => GenerativePerplexity.Sdtt(judge, new[] { new[] { 1, 2, 3, 4, 5 } }));
    }
}
