using Sdtt.Diffusion;
using Sdtt.Distillation;
using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Tests.Distillation;

/// <summary>Which masked position receives which sub-step's teacher distribution, on a teacher whose output reveals its context.</summary>
public class TeacherTargetsToyTests
{
    private const int V = 8, M = 7;
    private const float Win = 0.99999994f; // 1 − 2^-24: this entry wins the exponential race

    /// <summary>Uniforms [B, L, V] that reveal token 0 at the listed (b, l) and keep every other position masked.</summary>
    private static Tensor Forcing(long b, long l, params (int B, int L)[] reveal)
    {
        var u = full(new long[] { b, l, V }, 0.5f);
        for (int i = 0; i < b; i++) for (int j = 0; j < l; j++) u[i, j, M] = tensor(Win);
        foreach (var (i, j) in reveal) { u[i, j, M] = tensor(0.5f); u[i, j, 0] = tensor(Win); }
        return u;
    }

    [Fact]
    public void EachPositionGetsTheDistributionOfTheSubStepThatRevealedIt()
    {
        using var scope = NewDisposeScope();
        var xt = tensor(new long[] { 3, M, M, M, 1, M, M, M, 2, M, M, M }).reshape(2, 6);
        var t = tensor(new[] { 0.5f, 0.5f });
        var teacher = new ToyTeacher(V);
        var u0 = Forcing(2, 6, (0, 1), (1, 0), (1, 3));
        var u1 = Forcing(2, 6, (0, 5), (1, 4));
        using var tt = TeacherTargets.Compute(teacher, xt, t, 0.1, new InjectedUniformSource(new[] { u0, u1 }),
            new LogLinearSchedule(), new TeacherTargetOptions(2, TeacherGrid.Intended));

        // Trajectory: token 0 appears exactly where forced.
        var x1 = tensor(new long[] { 3, 0, M, M, 1, M, 0, M, 2, 0, M, M }).reshape(2, 6);
        var x2 = tensor(new long[] { 3, 0, M, M, 1, 0, 0, M, 2, 0, 0, M }).reshape(2, 6);
        Assert.True(tt.Trajectory[0].EqualTo(xt));
        Assert.True(tt.Trajectory[1].EqualTo(x1));
        Assert.True(tt.Trajectory[2].EqualTo(x2));

        // Sources: 0 = revealed in sub-step 0, 1 = in sub-step 1, 2 = never (target of the last sub-step), −1 = visible.
        var wantSource = tensor(new long[] { -1, 0, 2, 2, -1, 1, 0, 2, -1, 0, 1, 2 }).reshape(2, 6);
        Assert.True(tt.SourceGrid(2, 6).EqualTo(wantSource));

        // The teacher is called on the masked rows of x_t, then on the rows still masked after sub-step 0.
        Assert.Equal(2, teacher.Calls.Count);
        Assert.Equal(new long[] { 1, 2, 3, 5, 6, 7, 9, 10, 11 }, teacher.Calls[0]);
        Assert.Equal(new long[] { 2, 3, 5, 7, 10, 11 }, teacher.Calls[1]);

        // Targets: sub-step 0 rows carry the x_t context (2 and 1 visible), the others the x_1 context (3 and 3 visible).
        var visibleXt = new long[] { 2, 1 };
        var visibleX1 = new long[] { 3, 3 };
        var flat = tt.RowIndex.data<long>().ToArray();
        var src = tt.Source.data<long>().ToArray();
        for (int n = 0; n < flat.Length; n++)
        {
            long b = flat[n] / 6, l = flat[n] % 6;
            long visible = src[n] == 0 ? visibleXt[b] : visibleX1[b];
            Assert.True(tt.Rows[n].EqualTo(teacher.Row(visible, l)), $"row ({b},{l}) source {src[n]}");
            Assert.Equal(teacher.Peak(visible, l), tt.Rows[n].argmax().item<long>());
        }
        // The two contexts really differ at every position (so the test can tell the sub-steps apart).
        for (long b = 0; b < 2; b++) Assert.NotEqual(visibleXt[b], visibleX1[b]);
    }

    [Fact]
    public void ThreeSubStepsAndTheLastStepRule()
    {
        using var scope = NewDisposeScope();
        var xt = full(new long[] { 1, 6 }, (long)M);
        var t = tensor(new[] { 0.9f });
        var teacher = new ToyTeacher(V);
        var us = new[] { Forcing(1, 6, (0, 4)), Forcing(1, 6), Forcing(1, 6, (0, 0), (0, 2)) };
        using var tt = TeacherTargets.Compute(teacher, xt, t, 0.2, new InjectedUniformSource(us), new LogLinearSchedule(),
            new TeacherTargetOptions(3, TeacherGrid.Intended));
        Assert.True(tt.SourceGrid(1, 6).EqualTo(tensor(new long[] { 2, 3, 2, 3, 0, 3 }).reshape(1, 6)));
        // Sub-step 1 revealed nothing, so sub-step 2 saw one visible token, as did the rows never revealed.
        var src = tt.Source.data<long>().ToArray();
        for (int n = 0; n < 6; n++)
            Assert.Equal(teacher.Peak(src[n] == 0 ? 0 : 1, n), tt.Rows[n].argmax().item<long>());
        Assert.Equal(3, teacher.Calls.Count);
        // Times: 0.9, 0.7, 0.5 (intended grid).
        Assert.True(Golden.MaxAbsDiff(tt.Times.squeeze(1), tensor(new[] { 0.9, 0.7, 0.5 }) + (tensor(0.9f).to(ScalarType.Float64) - 0.9)) < 1e-12);
    }

    [Fact]
    public void GridsFollowTheirFormulas()
    {
        using var scope = NewDisposeScope();
        var t = tensor(new[] { 0.5f, 0.01f });
        double dt = 1.0 / 16;
        var intended = TeacherTimeGrid.Compute(t, dt, 2, TeacherGrid.Intended);
        var coded = TeacherTimeGrid.Compute(t, dt, 2, TeacherGrid.Coded);
        Assert.Equal(new[] { 0.5, 0.5 - dt }, new[] { intended[0, 0].item<double>(), intended[1, 0].item<double>() });
        // ts_1 = (1 − t)(t − 2dt) = 0.5·0.375; ts_0 = t + ts_1.
        Assert.Equal(0.1875, coded[1, 0].item<double>(), 12);
        Assert.Equal(0.6875, coded[0, 0].item<double>(), 12);
        // Below 2dt the coded grid floors at float32 1e-5; the intended one floors only its second time here.
        Assert.Equal((double)1e-5f, coded[0, 1].item<double>());
        Assert.Equal((double)1e-5f, coded[1, 1].item<double>());
        Assert.Equal((double)0.01f, intended[0, 1].item<double>(), 12);
        Assert.Equal((double)1e-5f, intended[1, 1].item<double>());
    }

    [Fact]
    public void RandomRolloutIsConsistentAndBf16StorageIsClose()
    {
        using var scope = NewDisposeScope();
        using var teacher = Golden.TinyModel();
        var gen = new Generator(7);
        var x0 = randint(0, 999, new long[] { 2, 32 }, generator: gen);
        var t = tensor(new[] { 0.8f, 0.3f });
        var xt = ForwardProcess.Mask(x0, new LogLinearSchedule().MoveChance(t), 999, gen);
        var opts = new TeacherTargetOptions(3, TeacherGrid.Coded, CategoricalPrecision.Float64);
        using var a = TeacherTargets.Compute(teacher, xt, t, 0.1, new GeneratorUniformSource(5), new LogLinearSchedule(), opts);
        using var bf = TeacherTargets.Compute(teacher, xt, t, 0.1, new GeneratorUniformSource(5), new LogLinearSchedule(), opts with { StoreBFloat16 = true });
        using var chunked = TeacherTargets.Compute(teacher, xt, t, 0.1, new GeneratorUniformSource(5), new LogLinearSchedule(), opts with { ChunkElements = 3000 });
        Assert.True(chunked.Trajectory.EqualTo(a.Trajectory) && chunked.Rows.EqualTo(a.Rows) && chunked.Source.EqualTo(a.Source), "chunked draw differs");
        // Source j ⇔ the position first changes at sub-step j.
        var traj = a.Trajectory.reshape(4, -1);
        var rows = a.RowIndex.data<long>().ToArray();
        var src = a.Source.data<long>().ToArray();
        for (int n = 0; n < rows.Length; n++)
        {
            int first = 3;
            for (int j = 0; j < 3; j++) if (traj[j + 1, rows[n]].item<long>() != 999) { first = j; break; }
            Assert.Equal(first, (int)src[n]);
        }
        Assert.True(a.Trajectory.EqualTo(bf.Trajectory));
        Assert.Equal(ScalarType.BFloat16, bf.Rows.dtype);
        Assert.Equal(a.RowBytes, 2 * bf.RowBytes);
        using var student = Golden.TinyModel(file: "dit_tiny_student_perturbed.safetensors");
        using var _ = no_grad();
        double l32 = DistillationLoss.Compute(student, xt, a, DivergenceKind.ReverseKl).item<float>();
        double l16 = DistillationLoss.Compute(student, xt, bf, DivergenceKind.ReverseKl).item<float>();
        Assert.True(l32 > 0);
        Assert.True(Math.Abs(l32 - l16) < 0.05 * l32, $"bf16 targets moved the loss from {l32} to {l16}");
    }
}
