using static TorchSharp.torch;

namespace Sdtt.Distillation;

/// <summary>Where the k teacher sub-steps of one SDTT target sit in time.</summary>
public enum TeacherGrid
{
    /// <summary>The paper's Algorithm 1: sub-step j starts at t − j·dt (t, t − dt, …). This project's default.</summary>
    Intended,
    /// <summary>The released code (<c>_teacher_logprobs_on_mask</c>): ts_j = t·space_j + (1 − t)·(t − k·dt) with
    /// space = linspace(1, 0, k). For k = 2 this is t + (1 − t)(t − 2dt), then (1 − t)(t − 2dt).</summary>
    Coded,
}

/// <summary>The start times of the k teacher sub-steps (reference D.2).</summary>
public static class TeacherTimeGrid
{
    /// <summary>The float32 floor 1e-5 of the reference, as a double (9.99999974738e-06).</summary>
    public static readonly double Floor = (double)1e-5f;

    /// <summary>Parses intended|coded.</summary>
    public static TeacherGrid Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "intended" or "paper" => TeacherGrid.Intended,
        "coded" or "code" or "reference" => TeacherGrid.Coded,
        _ => throw new SdttException($"unknown teacher grid '{name}'; use intended or coded"),
    };

    /// <summary>Lower-case name of a grid.</summary>
    public static string Name(TeacherGrid grid) => grid == TeacherGrid.Coded ? "coded" : "intended";

    /// <summary>Sub-step start times [k, B] in float64 after the floor, for per-sequence times t [B] and step dt.
    /// Each sub-step j then runs the teacher from float32(ts_j) to float32(ts_j) − dt.</summary>
    public static Tensor Compute(Tensor t, double dt, int k, TeacherGrid grid)
    {
        if (k < 1) throw new SdttException($"the number of teacher sub-steps must be ≥ 1 (got {k})");
        using var scope = NewDisposeScope();
        var td = t.to(ScalarType.Float64).reshape(1, -1);
        var j = arange(k, dtype: ScalarType.Float64, device: t.device).reshape(-1, 1);
        Tensor ts;
        if (grid == TeacherGrid.Intended)
        {
            ts = td - j * dt;
        }
        else
        {
            // space = linspace(1, 0, k) (float64 here; for k = 2 it is exactly [1, 0] as in the reference).
            var space = k == 1 ? ones(1, 1, dtype: ScalarType.Float64, device: t.device) : linspace(1.0, 0.0, k, dtype: ScalarType.Float64, device: t.device).reshape(-1, 1);
            var tEnd = td - k * dt;
            ts = td * space + (1 - td) * tEnd;
        }
        return ts.clamp_min(Floor).MoveToOuterDisposeScope();
    }
}
