using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Tests.Sampling;

/// <summary>The default uniform source: the published xoshiro256** sequence, range, determinism, and chunk invariance.</summary>
public class XoshiroUniformSourceTests
{
    [Fact]
    public void MatchesThePublishedAlgorithm()
    {
        // xoshiro256** from state {1, 2, 3, 4} (values computed from the reference C code's formulas)
        var x = XoshiroUniformSource.FromState(1, 2, 3, 4);
        Assert.Equal(new ulong[] { 11520, 0, 1509978240, 1215971899390074240 }, Enumerable.Range(0, 4).Select(_ => x.NextUInt64()));
        var y = XoshiroUniformSource.FromState(1, 2, 3, 4);
        var d = new double[4];
        y.Fill(d);
        Assert.Equal(new[] { (11520UL >> 11) / (double)(1L << 53), 0.0, (1509978240UL >> 11) / (double)(1L << 53), (1215971899390074240UL >> 11) / (double)(1L << 53) }, d);
    }

    [Fact]
    public void DrawWritesTheGeneratedNumbersIntoTheTensor()
    {
        using var scope = NewDisposeScope();
        var expected = new double[3 * 7];
        new XoshiroUniformSource(9).Fill(expected);
        var drawn = new XoshiroUniformSource(9).Draw(arange(3L), 1, 3, 7, ScalarType.Float64, CPU);
        Assert.Equal(expected, drawn.data<double>().ToArray());
        var expected32 = new float[3 * 7];
        new XoshiroUniformSource(9).Fill(expected32);
        Assert.Equal(expected32, new XoshiroUniformSource(9).Draw(arange(3L), 1, 3, 7, ScalarType.Float32, CPU).data<float>().ToArray());
    }

    [Theory]
    [InlineData(ScalarType.Float64)]
    [InlineData(ScalarType.Float32)]
    public void DrawsAreUniformDeterministicAndChunkInvariant(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var rows = arange(40L);
        var whole = new XoshiroUniformSource(5).Draw(rows, 2, 20, 1000, dtype, CPU);
        Assert.Equal(new long[] { 40, 1000 }, whole.shape);
        Assert.Equal(dtype, whole.dtype);
        var w64 = whole.to(ScalarType.Float64);
        Assert.True(w64.min().item<double>() >= 0 && w64.max().item<double>() < 1);
        Assert.InRange(whole.to(ScalarType.Float64).mean().item<double>(), 0.49, 0.51);
        var src = new XoshiroUniformSource(5);
        var parts = cat(new[] { src.Draw(rows.narrow(0, 0, 13), 2, 20, 1000, dtype, CPU), src.Draw(rows.narrow(0, 13, 27), 2, 20, 1000, dtype, CPU) });
        Assert.True(parts.EqualTo(whole));
        Assert.False(new XoshiroUniformSource(6).Draw(rows, 2, 20, 1000, dtype, CPU).EqualTo(whole));
    }
}
