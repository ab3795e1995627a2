using static TorchSharp.torch;

namespace Sdtt.Diffusion;

/// <summary>q(x_t | x_0): each token independently becomes MASK with probability m(t).</summary>
public static class ForwardProcess
{
    /// <summary>x_t for clean tokens x0 [B, L] and move chances [B] (or [B, 1]).</summary>
    public static Tensor Mask(Tensor x0, Tensor moveChance, int maskIndex, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var u = rand(x0.shape, dtype: ScalarType.Float32, device: x0.device, generator: generator);
        var m = moveChance.reshape(-1, 1).to(ScalarType.Float32);
        return where(u.lt(m), full_like(x0, maskIndex), x0).MoveToOuterDisposeScope();
    }
}

/// <summary>How training draws one t per sequence.</summary>
public enum TimeSampling
{
    /// <summary>MDLM: u_i = (U_i/n + i/n) mod 1 with independent U_i (stratified).</summary>
    Stratified,
    /// <summary>SDTT: u_i = (U + i/n) mod 1 with one shared U (a shifted lattice).</summary>
    Lattice,
    /// <summary>Independent uniforms.</summary>
    Uniform,
}

/// <summary>Draws t = (1 − ε) u + ε for a batch.</summary>
public static class TimeSampler
{
    /// <summary>t [n] in float32.</summary>
    public static Tensor Sample(int n, double eps, TimeSampling mode, Device? device = null, Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var offsets = arange(n, dtype: ScalarType.Float32, device: device) / n;
        Tensor u = mode switch
        {
            TimeSampling.Stratified => (rand(n, dtype: ScalarType.Float32, device: device, generator: generator) / n + offsets).remainder(1),
            TimeSampling.Lattice => (rand(1, dtype: ScalarType.Float32, device: device, generator: generator) + offsets).remainder(1),
            _ => rand(n, dtype: ScalarType.Float32, device: device, generator: generator),
        };
        return ((1 - eps) * u + eps).MoveToOuterDisposeScope();
    }
}
