using Sdtt.Diffusion;
using Sdtt.Distillation;
using Sdtt.Sampling;
using static TorchSharp.torch;

namespace Sdtt.Tests.Distillation;

/// <summary>The reveal-first teacher rollout draws what the reference rollout draws: which sub-step reveals each position
/// (against the exact probabilities of the schedule) and which token it takes (against the teacher's distribution in the
/// context of that sub-step), with a check that a rollout whose reveal probability is off by ±5 % fails; its targets are
/// the teacher's rows in the right contexts, and it calls the teacher only where a target or a token needs it.</summary>
public class RevealFirstRolloutTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Vocab = 6, B = 64, L = 8, Calls = 80;
    private const double T = 0.9, Dt = 0.3;

    /// <summary>χ² of the per-position source counts (revealed at sub-step 0, at 1, never) against the exact probabilities,
    /// and the z-score of how often a revealed token is the teacher's peak.</summary>
    private static (double Chi2, double PeakZ, long Rows) Statistics(TeacherTargetOptions options, long seed)
    {
        using var scope = NewDisposeScope();
        var teacher = new ToyTeacher(Vocab);
        var schedule = new LogLinearSchedule();
        var counts = new long[3];
        long peaks = 0, revealed = 0, rows = 0;
        for (int c = 0; c < Calls; c++)
        {
            using var inner = NewDisposeScope();
            var xt = full(new long[] { B, L }, (long)teacher.MaskIndex);
            var t = full(B, (float)T);
            using var targets = TeacherTargets.Compute(teacher, xt, t, Dt, new GeneratorUniformSource(seed * 1000 + c), schedule, options);
            var src = targets.Source.data<long>().ToArray();
            var traj = targets.Trajectory;
            var final = traj[2].reshape(-1).data<long>().ToArray();
            foreach (var s in src) counts[s]++;
            rows += targets.Count;
            for (int n = 0; n < src.Length; n++)
            {
                if (src[n] == 2) continue;
                long b = n / L, pos = n % L; // every position is masked in x_t, so row n is position n
                long visible = traj[src[n]][b].ne(teacher.MaskIndex).sum().item<long>();
                revealed++;
                if (final[n] == teacher.Peak(visible, pos)) peaks++;
            }
        }
        double p0 = Reveal(schedule, T), p1 = Reveal(schedule, T - Dt);
        var expected = new[] { p0, (1 - p0) * p1, (1 - p0) * (1 - p1) };
        double total = counts.Sum(), chi2 = 0;
        for (int i = 0; i < 3; i++) chi2 += Math.Pow(counts[i] - total * expected[i], 2) / (total * expected[i]);
        double peak = Math.Exp(3) / (Math.Exp(3) + Vocab - 2); // one logit 3 among the Vocab − 1 real tokens
        double z = (peaks - revealed * peak) / Math.Sqrt(revealed * peak * (1 - peak));
        return (chi2, z, rows);
    }

    private static double Reveal(LogLinearSchedule schedule, double t)
    {
        using var st = NewDisposeScope();
        return AncestralScheduler.At(tensor(new[] { (float)t }), Dt, schedule).RevealProbability.to(ScalarType.Float64).item<double>();
    }

    // χ²(2) at p = 0.001 and a 4σ bound: a correct rollout fails them with probability ~1e-3 (fixed seeds: never, once passing).
    private const double Chi2Limit = 13.8, ZLimit = 4;

    [Fact]
    public void BothRolloutsMatchTheExactRevealAndTokenDistributions()
    {
        foreach (var rollout in new[] { TeacherRollout.Reference, TeacherRollout.RevealFirst })
        {
            var (chi2, z, _) = Statistics(new TeacherTargetOptions(2, TeacherGrid.Intended, CategoricalPrecision.Float64, Rollout: rollout), 1);
            output.WriteLine($"{rollout}: χ² = {chi2:F2}, peak z = {z:F2}");
            Assert.True(chi2 < Chi2Limit, $"{rollout}: reveal sub-steps χ² = {chi2:F2} ≥ {Chi2Limit}");
            Assert.True(Math.Abs(z) < ZLimit, $"{rollout}: revealed tokens off the teacher's distribution (z = {z:F2})");
        }
    }

    [Fact]
    public void ARevealProbabilityOffByFivePercentFails()
    {
        foreach (var scale in new[] { 1.05, 0.95 })
        {
            var (chi2, _, _) = Statistics(new TeacherTargetOptions(2, TeacherGrid.Intended, Rollout: TeacherRollout.RevealFirst) { RevealScale = scale }, 1);
            output.WriteLine($"reveal × {scale}: χ² = {chi2:F2}");
            Assert.True(chi2 > Chi2Limit, $"reveal × {scale}: χ² = {chi2:F2} did not exceed {Chi2Limit}: the check has no power");
        }
    }

    [Fact]
    public void TargetsAreTheTeachersRowsAndOnlyNeededRowsAreScored()
    {
        using var scope = NewDisposeScope();
        var teacher = new ToyTeacher(Vocab);
        var xt = full(new long[] { 4, L }, (long)teacher.MaskIndex);
        xt[0, 0] = tensor(2L); // one visible token
        var t = tensor(new[] { 0.9f, 0.7f, 0.5f, 0.3f });
        using var targets = TeacherTargets.Compute(teacher, xt, t, 0.2, new GeneratorUniformSource(3), new LogLinearSchedule(),
            new TeacherTargetOptions(2, Rollout: TeacherRollout.RevealFirst));
        var rows = targets.RowIndex.data<long>().ToArray();
        var src = targets.Source.data<long>().ToArray();
        for (int n = 0; n < rows.Length; n++)
        {
            long b = rows[n] / L, pos = rows[n] % L, step = Math.Min(src[n], 1); // never revealed: the last sub-step's context
            long visible = targets.Trajectory[step][b].ne(teacher.MaskIndex).sum().item<long>();
            Assert.True(targets.Rows[n].allclose(teacher.Row(visible, pos)), $"row {n} (source {src[n]}) is not the teacher's row in its context");
        }
        // Scored rows: the ones revealed in sub-step 0, then every row left; never a row twice.
        long revealedFirst = src.Count(s => s == 0);
        Assert.Equal(revealedFirst + (rows.Length - revealedFirst), teacher.Calls.Sum(c => c.Length));
        Assert.Equal(revealedFirst > 0 ? 2 : 1, teacher.Calls.Count);
    }
}
