using Sdtt.Sampling.Autoregressive;
using Sdtt.Serving;
using static TorchSharp.torch;

namespace Sdtt.Tests.Serving;

/// <summary>Per-row temperature, nucleus and uniform of the batched GPT decode.</summary>
public class RowSamplerTests
{
    [Fact]
    public void EachRowUsesItsOwnTopPTemperatureAndUniform()
    {
        Sdtt.Native.TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var probs = new[] { 0.5, 0.3, 0.2 };
        var row = probs.Select(x => (float)Math.Log(x)).ToArray();
        var logits = tensor(row.Concat(row).Concat(row).ToArray(), new long[] { 3, 3 });
        // row 0: top-p 0.6 keeps tokens 0 and 1 (the one crossing 0.6 is kept); u = 0.99 falls in token 1's interval
        // row 1: no filter, u = 0.99 falls in token 2's; row 2: near-zero temperature is the argmax whatever u
        var tokens = RowSampler.Sample(logits, new[] { 1.0, 1.0, 1e-5 }, new[] { 0.6, 1.0, 1.0 }, new[] { 0.99, 0.99, 0.99 });
        Assert.Equal(new long[] { 1, 2, 0 }, tokens);
        Assert.Equal(new long[] { 0, 1 }, RowSampler.Sample(logits[..2], new[] { 1.0, 1.0 }, new[] { 0.6, 0.6 }, new[] { 0.1, 0.7 }));
    }

    [Fact]
    public void NucleusKeepsTheSameTokensAsTheSingleRowFilter()
    {
        Sdtt.Native.TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var g = new Generator(5);
        var logits = randn(new long[] { 4, 200 }, generator: g) * 3;
        var ps = new[] { 0.3, 0.7, 0.9, 0.95 };
        for (int r = 0; r < 4; r++)
        {
            var kept = LogitsFilter.TopP(logits[r..(r + 1)], ps[r]).isfinite().squeeze(0);
            // sweep the uniforms: every token drawn must be kept by the reference filter, and every kept token must be reachable
            var drawn = new HashSet<long>();
            for (int k = 0; k < 2000; k++)
                drawn.Add(RowSampler.Sample(logits[r..(r + 1)], new[] { 1.0 }, new[] { ps[r] }, new[] { (k + 0.5) / 2000 })[0]);
            var keptIds = Enumerable.Range(0, 200).Where(i => kept[i].item<bool>()).Select(i => (long)i).ToHashSet();
            Assert.Subset(keptIds, drawn);
            var p = logits[r].softmax(0).data<float>().ToArray();
            double keptMass = keptIds.Sum(i => (double)p[i]);
            // a kept token whose renormalised probability exceeds two sweep intervals cannot be missed
            Assert.All(keptIds.Where(i => p[i] / keptMass > 1.0 / 1000), i => Assert.Contains(i, drawn));
        }
    }
}
