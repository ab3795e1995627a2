using Sdtt;
using Sdtt.Data;

namespace Sdtt.Tests.Data;

public class BatchSamplerTests
{
    [Fact]
    public void EachEpochIsAPermutationAndEpochsDiffer()
    {
        var s = new BatchSampler(10, 5, seed: 3);
        Assert.Equal(2, s.BatchesPerEpoch);
        var e0 = s.Next().Concat(s.Next()).ToArray();
        Assert.Equal(new BatchSamplerState(1, 0, 3), s.State);
        var e1 = s.Next().Concat(s.Next()).ToArray();
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), e0.Order());
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), e1.Order());
        Assert.NotEqual(e0, e1);
        Assert.NotEqual(Enumerable.Range(0, 10).Select(i => (long)i), e0);
    }

    [Fact]
    public void SameSeedSameStreamOtherSeedDifferent()
    {
        var a = new BatchSampler(1000, 7, seed: 42);
        var b = new BatchSampler(1000, 7, seed: 42);
        var c = new BatchSampler(1000, 7, seed: 43);
        var sa = Enumerable.Range(0, 300).SelectMany(_ => a.Next()).ToArray();
        var sb = Enumerable.Range(0, 300).SelectMany(_ => b.Next()).ToArray();
        var sc = Enumerable.Range(0, 300).SelectMany(_ => c.Next()).ToArray();
        Assert.Equal(sa, sb);
        Assert.NotEqual(sa, sc);
    }

    [Fact]
    public void RestoreResumesExactly()
    {
        var a = new BatchSampler(23, 4, seed: 9);
        for (int i = 0; i < 13; i++) a.Next(); // 5 batches/epoch, so epoch 2, cursor 12
        var saved = a.State;
        Assert.Equal(new BatchSamplerState(2, 12, 9), saved);
        var expected = Enumerable.Range(0, 12).Select(_ => a.Next()).ToArray();

        var b = new BatchSampler(23, 4, seed: 0);
        b.Next();
        b.Restore(saved);
        Assert.Equal(saved, b.State);
        var got = Enumerable.Range(0, 12).Select(_ => b.Next()).ToArray();
        Assert.Equal(expected, got);
    }

    [Fact]
    public void DropLastFalseGivesShortFinalBatch()
    {
        var s = new BatchSampler(7, 3, seed: 1, shuffle: false, dropLast: false);
        Assert.Equal(new long[] { 0, 1, 2 }, s.Next());
        Assert.Equal(new long[] { 3, 4, 5 }, s.Next());
        Assert.Equal(new long[] { 6 }, s.Next());
        Assert.Equal(new BatchSamplerState(1, 0, 1), s.State);
        Assert.Equal(new long[] { 0, 1, 2 }, s.Next());
    }

    [Fact]
    public void DropLastTrueSkipsRemainder()
    {
        var s = new BatchSampler(7, 3, seed: 1, shuffle: false);
        Assert.Equal(new long[] { 0, 1, 2 }, s.Next());
        Assert.Equal(new long[] { 3, 4, 5 }, s.Next());
        Assert.Equal(new long[] { 0, 1, 2 }, s.Next());
    }

    [Fact]
    public void ShuffleIsRoughlyUniform()
    {
        // Position of item 0 after shuffling 4 items over many epochs: each of 4 slots about 1/4 of the time.
        var s = new BatchSampler(4, 4, seed: 5);
        var hits = new int[4];
        for (int e = 0; e < 4000; e++) hits[Array.IndexOf(s.Next(), 0L)]++;
        Assert.All(hits, h => Assert.InRange(h, 850, 1150));
    }

    [Fact]
    public void BadArgumentsAndStatesAreRejected()
    {
        Assert.Throws<SdttException>(() => new BatchSampler(3, 4, 0));
        Assert.Throws<SdttException>(() => new BatchSampler(0, 1, 0));
        var s = new BatchSampler(10, 4, 0);
        Assert.Throws<SdttException>(() => s.Restore(new BatchSamplerState(0, 8, 0)));
        Assert.Throws<SdttException>(() => s.Restore(new BatchSamplerState(-1, 0, 0)));
    }
}
