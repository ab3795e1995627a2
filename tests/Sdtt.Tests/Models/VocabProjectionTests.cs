using Sdtt.Models;
using Sdtt.Native;
using Xunit;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Sdtt.Tests.Models;

/// <summary>The small-row vocabulary projection (weight on the left of the product) gives linear's logits in linear's
/// shape, with and without bias, for decode-sized and chunk-sized row counts, and falls back to linear under autograd.</summary>
public class VocabProjectionTests
{
    [Theory]
    [InlineData(1, 1, true)]
    [InlineData(8, 1, false)]
    [InlineData(4, 16, true)]   // 64 rows: the largest that takes the weight-left path
    [InlineData(2, 40, true)]   // 80 rows: linear
    public void MatchesLinear(int b, int l, bool withBias)
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var g = new Generator(7);
        var h = randn(new long[] { b, l, 96 }, generator: g);
        var w = randn(new long[] { 1000, 96 }, generator: g) * 0.1;
        var bias = withBias ? randn(new long[] { 1000 }, generator: g) : null;
        var expected = F.linear(h, w, bias);
        var got = DitOps.VocabProjection(h, w, bias, ModelPrecision.Float32);
        Assert.Equal(expected.shape, got.shape);
        Assert.Equal(ScalarType.Float32, got.dtype);
        Assert.True(allclose(expected, got, rtol: 1e-5, atol: 1e-5), $"max |Δ| = {(expected - got).abs().max().item<float>()}");
        var flat = got.reshape(b * l, 1000);
        Assert.Equal(expected.reshape(b * l, 1000).argmax(-1).data<long>().ToArray(), flat.argmax(-1).data<long>().ToArray());
    }

    [Fact]
    public void KeepsGradientsWhenTraining()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var w = randn(new long[] { 50, 16 }).requires_grad_(true);
        var h = randn(new long[] { 2, 1, 16 });
        F.linear(h, w).sum().backward();
        var expected = w.grad!.clone();
        w.grad!.zero_();
        DitOps.VocabProjection(h, w, null, ModelPrecision.Float32).sum().backward();
        var diff = (w.grad! - expected).abs().max().item<float>();
        Assert.True(diff < 1e-5, $"max |Δ| = {diff}, grad dtype {w.grad!.dtype}, shape {string.Join(",", w.grad!.shape)}");
    }

    [Fact]
    public void DecodingCopyOfTheGptHeadGivesTheSameLogits()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var g = new Generator(5);
        using var gpt = new GptModel(new GptConfig(32, 2, 1, NPositions: 8, VocabSize: 500));
        gpt.eval();
        var one = randn(new long[] { 1, 1, 32 }, generator: g);
        var four = randn(new long[] { 4, 1, 32 }, generator: g);
        var (before1, before4) = (gpt.Project(one), gpt.Project(four));
        gpt.PrepareForDecoding();
        var (after1, after4) = (gpt.Project(one), gpt.Project(four));
        Assert.Equal(before1.shape, after1.shape);
        Assert.True((before1 - after1).abs().max().item<float>() < 1e-5);
        Assert.True((before4 - after4).abs().max().item<float>() < 1e-5);
    }
}
