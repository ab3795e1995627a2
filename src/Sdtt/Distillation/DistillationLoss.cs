using Sdtt.Models;
using static TorchSharp.torch;

namespace Sdtt.Distillation;

/// <summary>The SDTT student loss: one student forward at x_t, log-probs only at the masked rows, and a divergence to
/// the teacher targets, averaged over masked rows (reference D.3).</summary>
public static class DistillationLoss
{
    /// <summary>Scalar loss (with grad through the student). The student's train/eval mode is the caller's choice
    /// (training runs it in training mode, so dropout is on). With <paramref name="float64"/> the divergence is computed
    /// in float64 (the reference's <c>loss_precision: "64"</c>). <paramref name="sigma"/> only matters for a time-conditioned student. Zero masked rows give a zero loss connected to the graph.</summary>
    public static Tensor Compute(IDenoiser student, Tensor xt, TeacherTargets targets, DivergenceKind kind, bool float64 = false, Tensor? sigma = null)
    {
        using var scope = NewDisposeScope();
        if (targets.Count == 0)
        {
            var zero = student is TorchSharp.torch.nn.Module m ? m.parameters().First().sum() * 0 : zeros(1, device: xt.device).sum();
            return zero.MoveToOuterDisposeScope();
        }
        var preds = student.LogProbsAt(xt, targets.RowIndex, sigma);
        var teacher = targets.Rows;
        var dtype = float64 ? ScalarType.Float64 : ScalarType.Float32;
        // bf16 targets enter (student − teacher) directly (type promotion computes in float32 without a float32 copy of
        // the targets); divergences that exponentiate the targets get a float32 copy so exp runs in float32.
        bool promote = !float64 && teacher.dtype == ScalarType.BFloat16 && kind is DivergenceKind.ReverseKl or DivergenceKind.Mse or DivergenceKind.Tvd;
        return Divergence.Compute(kind, preds.to(dtype), promote ? teacher : teacher.to(dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>Per-row divergence values [N] (no grad needed; for diagnostics and tests).</summary>
    public static Tensor Rows(IDenoiser student, Tensor xt, TeacherTargets targets, DivergenceKind kind)
    {
        using var scope = NewDisposeScope();
        var preds = student.LogProbsAt(xt, targets.RowIndex);
        return Divergence.Rows(kind, preds.to(ScalarType.Float64), targets.Rows.to(ScalarType.Float64)).MoveToOuterDisposeScope();
    }
}
