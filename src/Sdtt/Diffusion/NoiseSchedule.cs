using static TorchSharp.torch;

namespace Sdtt.Diffusion;

/// <summary>The log-linear noise schedule of MDLM: σ(t) = −log(1 − (1−ε)t), move (mask) probability m(t) = (1−ε)t.</summary>
public sealed class LogLinearSchedule
{
    /// <summary>ε of the schedule (1e-3, hard-coded in the reference).</summary>
    public double Eps { get; }

    /// <summary>A schedule with ε = <paramref name="eps"/>.</summary>
    public LogLinearSchedule(double eps = 1e-3) => Eps = eps;

    /// <summary>Total noise σ(t) = −log1p(−(1−ε) t), in t's dtype.</summary>
    public Tensor Sigma(Tensor t) => -log1p(-(1 - Eps) * t);

    /// <summary>dσ/dt = (1−ε) / (1 − (1−ε) t).</summary>
    public Tensor Rate(Tensor t) => (1 - Eps) / (1 - (1 - Eps) * t);

    /// <summary>Masking probability m(t) = 1 − e^{−σ(t)} (computed as the reference does, negative for t &lt; 0).</summary>
    public Tensor MoveChance(Tensor t)
    {
        using var s = Sigma(t);
        return 1 - exp(-s);
    }

    /// <summary>The NELBO weight dσ/expm1(σ) (= 1/t), computed from the two formulas as the reference does.</summary>
    public Tensor LossWeight(Tensor t)
    {
        using var scope = NewDisposeScope();
        return (Rate(t) / expm1(Sigma(t))).MoveToOuterDisposeScope();
    }

    /// <summary>Scalar m(t) in float32 arithmetic.</summary>
    public float MoveChance(float t) => 1f - MathF.Exp(-(-(float)Math.Log(1.0 + (double)(-(float)(1 - Eps) * t))));
}
