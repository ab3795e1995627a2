using Sdtt.Evaluation;
using Sdtt.Models;
using Sdtt.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Sdtt.Tests.Evaluation;

public class GptJudgeTests
{
    [Fact]
    public void JudgeAgreesWithTheModelsForwardPass()
    {
        TorchRuntime.EnsureLoaded();
        manual_seed(3);
        using var judge = new GptJudge(new GptModel(GptConfig.Tiny with { VocabSize = 300 })) { ChunkRows = 7 };
        var x = randint(0, 300, new long[] { 3, 11 }, dtype: ScalarType.Int64);
        using var logits = judge.Model.Forward(x);
        var logp = nn.functional.log_softmax(logits, -1);
        var expected = logp[.., ..^1].gather(-1, x[.., 1..].unsqueeze(-1)).squeeze(-1);
        Assert.True(Golden.MaxAbsDiff(expected, judge.TokenLogProbs(x)) < 1e-4);
        Assert.True(judge.GreedyTokens(x).EqualTo(logits[.., ..^1].argmax(-1)));
        var f = judge.Features(x);
        Assert.Equal(new long[] { 3, 64 }, f.shape);
        Assert.True(Golden.MaxAbsDiff(f, judge.Model.Hidden(x)[.., -1]) < 1e-6);
        // Causality: right padding does not change earlier log-probs (the batching of the metrics relies on it).
        var padded = cat(new[] { x, zeros(3, 4, dtype: ScalarType.Int64) }, 1);
        Assert.True(Golden.MaxAbsDiff(judge.TokenLogProbs(padded)[.., ..10], judge.TokenLogProbs(x)) < 1e-4);
        Assert.Equal(128, judge.MaxLength);
    }
}
