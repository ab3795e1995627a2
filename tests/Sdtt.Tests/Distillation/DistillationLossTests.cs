using Sdtt.Diffusion;
using Sdtt.Distillation;
using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Tests.Distillation;

/// <summary>The student side of the loss: gradients reach the student only, dropout is active in training mode, and every
/// divergence is finite, non-negative and zero for a student identical to the teacher at sub-step-0 rows.</summary>
[Collection(GlobalTorchRngCollection.Name)]
public class DistillationLossTests
{
    [Fact]
    public void GradientsReachTheStudentOnlyAndDropoutIsOnInTraining()
    {
        using var scope = NewDisposeScope();
        using var teacher = Golden.TinyModel();
        using var student = Golden.TinyModel(file: "dit_tiny_student_perturbed.safetensors");
        using var g = Golden.Open("sdtt_target_cases.safetensors");
        var xt = g.Load("sdtt.hi_mid.xt");
        var t = g.Load("sdtt.hi_mid.t");
        using var targets = TeacherTargets.Compute(teacher, xt, t, 0.1, new GeneratorUniformSource(1), new LogLinearSchedule(), new TeacherTargetOptions());
        Assert.False(teacher.training);
        student.train();
        manual_seed(1);
        var l1 = DistillationLoss.Compute(student, xt, targets, DivergenceKind.ReverseKl);
        manual_seed(2);
        var l2 = DistillationLoss.Compute(student, xt, targets, DivergenceKind.ReverseKl);
        Assert.NotEqual(l1.item<float>(), l2.item<float>()); // different dropout masks
        l1.backward();
        Assert.All(student.parameters(), p => Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0));
        Assert.All(teacher.parameters(), p => Assert.True(p.grad is null || p.grad.abs().sum().item<float>() == 0));
        student.eval();
        using var _ = no_grad();
        var e1 = DistillationLoss.Compute(student, xt, targets, DivergenceKind.ReverseKl).item<float>();
        var e2 = DistillationLoss.Compute(student, xt, targets, DivergenceKind.ReverseKl).item<float>();
        Assert.Equal(e1, e2);
    }

    [Theory]
    [InlineData(DivergenceKind.ReverseKl)]
    [InlineData(DivergenceKind.ForwardKl)]
    [InlineData(DivergenceKind.Mse)]
    [InlineData(DivergenceKind.Tvd)]
    [InlineData(DivergenceKind.Tv)]
    public void EveryDivergenceVanishesOnRowsTheTeacherSawAtXt(DivergenceKind kind)
    {
        using var scope = NewDisposeScope();
        using var teacher = Golden.TinyModel();
        using var other = Golden.TinyModel(file: "dit_tiny_student_perturbed.safetensors");
        using var g = Golden.Open("sdtt_target_cases.safetensors");
        var xt = g.Load("sdtt.hi_mid.xt");
        var t = g.Load("sdtt.hi_mid.t");
        // k = 1: every target comes from the teacher at x_t, so the teacher as student has loss exactly 0.
        using var targets = TeacherTargets.Compute(teacher, xt, t, 0.1, new GeneratorUniformSource(1), new LogLinearSchedule(), new TeacherTargetOptions(SubSteps: 1));
        using var _ = no_grad();
        Assert.Equal(0.0, DistillationLoss.Compute(teacher, xt, targets, kind).item<float>());
        var rows = Divergence.Rows(kind, other.LogProbsAt(xt, targets.RowIndex), targets.Rows);
        Assert.True(rows.min().item<float>() > 0);
        Assert.Equal(rows.mean().item<float>(), DistillationLoss.Compute(other, xt, targets, kind).item<float>(), 5);
    }
}
