using Sdtt.Diffusion;
using static TorchSharp.torch;

namespace Sdtt.Sampling;

/// <summary>The times and masking probabilities of one ancestral step from t to s = t − dt.</summary>
/// <param name="T">Start time t (float32 [1] or per row [N]).</param>
/// <param name="S">End time s = float32(t) − float32(dt) (can be below 0 on the coded teacher grid).</param>
/// <param name="MoveT">m_t = 1 − e^{−σ(t)}.</param>
/// <param name="MoveS">m_s = 1 − e^{−σ(s)} (negative when s &lt; 0).</param>
public sealed record AncestralStepTimes(Tensor T, Tensor S, Tensor MoveT, Tensor MoveS)
{
    /// <summary>Probability that a masked position is revealed in this step, (m_t − m_s)/m_t (≥ 1 when m_s ≤ 0).</summary>
    public Tensor RevealProbability => (MoveT - MoveS) / MoveT;
}

/// <summary>The scheduler of masked-diffusion ancestral sampling, in the style of diffusers' schedulers: it owns the time
/// grid (ts = linspace(1, ε, N+1) in float32, dt = (1 − ε)/N) and turns a step (or per-row times, for the SDTT teacher
/// rollout) into t, s, m_t and m_s exactly as the reference computes them. Every sampler and the teacher rollout take
/// their step arithmetic from here, so there is one copy of it.</summary>
public sealed class AncestralScheduler
{
    private readonly LogLinearSchedule _schedule;

    /// <summary>A scheduler for <paramref name="steps"/> steps ending at <paramref name="eps"/>.</summary>
    public AncestralScheduler(int steps, double eps = 1e-5, LogLinearSchedule? schedule = null)
    {
        if (steps < 1) throw new SdttException($"steps must be ≥ 1 (got {steps})");
        Steps = steps;
        GridEps = eps;
        _schedule = schedule ?? new LogLinearSchedule();
    }

    /// <summary>Number of steps N.</summary>
    public int Steps { get; }
    /// <summary>End of the grid ε.</summary>
    public double GridEps { get; }
    /// <summary>The noise schedule (m(t), σ(t)).</summary>
    public LogLinearSchedule Schedule => _schedule;

    /// <summary>The float32 time grid linspace(1, ε, N+1) (CPU).</summary>
    public static Tensor TimeGrid(int steps, double eps = 1e-5) => linspace(1.0, eps, steps + 1, dtype: ScalarType.Float32);

    /// <summary>dt = (1 − ε)/N as a double (rounded to float32 where it is subtracted).</summary>
    public static double StepSize(int steps, double eps = 1e-5) => (1.0 - eps) / steps;

    /// <summary>This scheduler's dt.</summary>
    public double Dt => StepSize(Steps, GridEps);

    /// <summary>Start time of step <paramref name="i"/> (i = N is the fill time ε), as float32 [1].</summary>
    public Tensor TimeAt(int i)
    {
        using var grid = TimeGrid(Steps, GridEps);
        return grid[i].reshape(1).clone();
    }

    /// <summary>Times and masking probabilities of step <paramref name="i"/> (0 ≤ i &lt; N), as float32 [1] tensors.</summary>
    public AncestralStepTimes Step(int i)
    {
        if (i < 0 || i >= Steps) throw new ArgumentOutOfRangeException(nameof(i), $"step {i} is outside 0..{Steps - 1}");
        return At(TimeAt(i), Dt, _schedule);
    }

    /// <summary>Start times t_0..t_N (float32 values; t_N = ε is the fill time) and the reveal probability of each of the
    /// N steps, computed from one grid: what a sampler that decides reveals on the CPU needs for the whole run.</summary>
    public (float[] Times, double[] Reveal) Table()
    {
        using var scope = NewDisposeScope();
        var grid = TimeGrid(Steps, GridEps);
        var st = At(grid.narrow(0, 0, Steps), Dt, _schedule);
        return (grid.data<float>().ToArray(), st.RevealProbability.to(ScalarType.Float64).data<double>().ToArray());
    }

    /// <summary>Times and masking probabilities of a step of size <paramref name="dt"/> starting at per-row times
    /// <paramref name="t"/> (cast to float32; s = t − float32(dt), as the reference).</summary>
    public static AncestralStepTimes At(Tensor t, double dt, LogLinearSchedule schedule)
    {
        var tf = t.to(ScalarType.Float32);
        var s = tf - (float)dt;
        return new AncestralStepTimes(tf, s, schedule.MoveChance(tf), schedule.MoveChance(s));
    }
}
