using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Tests.Sampling;

/// <summary>Temperature and nucleus reshaping against hand-computed distributions.</summary>
public class ProbabilityShapingTests
{
    private static Tensor Row(params double[] p) =>
        tensor(p.Select(x => x > 0 ? (float)Math.Log(x) : -1e6f).ToArray()).unsqueeze(0);

    private static double[] Probs(Tensor logp) => logp.exp().squeeze(0).to(ScalarType.Float64).data<double>().ToArray();

    [Fact]
    public void IdentityLeavesRowsUntouched()
    {
        using var scope = NewDisposeScope();
        var lp = Row(0.5, 0.3, 0.2, 0);
        Assert.True(ProbabilityShaping.Apply(lp, 1.0, 1.0, 3).EqualTo(lp));
    }

    [Fact]
    public void TopPKeepsTheNucleus()
    {
        using var scope = NewDisposeScope();
        // sorted probs 0.5, 0.3, 0.15, 0.05: mass before them 0, 0.5, 0.8, 0.95 → p = 0.7 keeps the first two
        var p = Probs(ProbabilityShaping.Apply(Row(0.15, 0.5, 0.05, 0.3, 0), 1.0, 0.7, 4));
        double[] want = { 0, 0.625, 0, 0.375, 0 };
        for (int i = 0; i < 5; i++) Assert.InRange(p[i], want[i] - 1e-6, want[i] + 1e-6);
        // a tiny p always keeps the most likely token
        var q = Probs(ProbabilityShaping.Apply(Row(0.15, 0.5, 0.05, 0.3, 0), 1.0, 1e-3, 4));
        Assert.InRange(q[1], 1 - 1e-6, 1 + 1e-6);
    }

    [Fact]
    public void TemperatureSharpensAndFlattens()
    {
        using var scope = NewDisposeScope();
        // T = 0.5 squares the probabilities: 0.36, 0.16, 0.04, 0.04 → /0.6
        var p = Probs(ProbabilityShaping.Apply(Row(0.6, 0.2, 0.2, 0.0, 0.4), 0.5, 1.0, 3));
        // column 4 holds 0.4 only to check it stays a real token; mask column 3 gets 0
        double z = 0.36 + 0.04 + 0.04 + 0.16;
        double[] want = { 0.36 / z, 0.04 / z, 0.04 / z, 0, 0.16 / z };
        for (int i = 0; i < 5; i++) Assert.InRange(p[i], want[i] - 1e-6, want[i] + 1e-6);
        // T = 2 takes square roots
        var r = Probs(ProbabilityShaping.Apply(Row(0.81, 0.09, 0.1, 0), 2.0, 1.0, 3));
        double zz = 0.9 + 0.3 + Math.Sqrt(0.1);
        Assert.InRange(r[0], 0.9 / zz - 1e-6, 0.9 / zz + 1e-6);
        Assert.InRange(r[3], 0, 1e-12);
    }
}
