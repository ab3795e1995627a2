using Sdtt.Diffusion;
using Sdtt.Distillation;
using static TorchSharp.torch;
using Sdtt.Models;

namespace Sdtt.Tests;

/// <summary>MDLM NELBO and the SDTT divergences against the reference (rtol 1e-5).</summary>
public class LossParityTests
{
    private static void Close(double want, double got, double rtol = 1e-5) =>
        Assert.True(Math.Abs(want - got) <= rtol * Math.Abs(want) + 1e-12, $"want {want}, got {got}");

    [Theory]
    [InlineData("tc_on", true)]
    [InlineData("tc_off", false)]
    public void MdlmNelboMatchesReference(string kase, bool tc)
    {
        using var scope = NewDisposeScope();
        var values = Golden.Json("loss_cases.json")["values"]!["mdlm_nelbo"]!;
        using var g = Golden.Open("dit_tiny_cases.safetensors");
        using var lc = Golden.Open("loss_cases.safetensors");
        using var model = Golden.TinyModel(tc);
        var x0 = g.Load("x0");
        var xt = g.Load("xt");
        var t = g.Load("t");
        var schedule = new LogLinearSchedule();
        Assert.True(Golden.MaxAbsDiff(schedule.LossWeight(t), lc.Load("mdlm.weight")) < 1e-6);
        using var _ = no_grad();
        // The reference form (full log-probs, all tokens).
        var sigma = g.Load("sigma");
        var perToken = MdlmLoss.PerToken(model.LogProbs(xt, sigma), x0, t, schedule);
        Assert.True(Golden.MaxAbsDiff(perToken, lc.Load($"mdlm.{kase}.loss_per_token")) < 1e-4);
        Close(values[kase]!["loss_mean_all_ones_mask"]!.GetValue<double>(), perToken.mean().item<float>());
        var padMask = lc.Load("mdlm.attention_mask_padded").to(ScalarType.Float32);
        Close(values[kase]!["loss_mean_padded_mask"]!.GetValue<double>(), ((perToken * padMask).sum() / padMask.sum()).item<float>());
        // The fast form (output layer only at masked rows) gives the same number.
        if (!tc)
        {
            var (loss, rows) = MdlmLoss.Compute(model, x0, xt, t, schedule);
            Close(values[kase]!["loss_mean_all_ones_mask"]!.GetValue<double>(), loss.item<float>());
            Assert.True(Golden.MaxAbsDiff(rows, perToken.sum(1)) < 1e-3);
        }
    }

    [Theory]
    [InlineData("model")]
    [InlineData("rand")]
    public void SdttDivergencesMatchReference(string kase)
    {
        using var scope = NewDisposeScope();
        var values = Golden.Json("loss_cases.json")["values"]!["sdtt"]![kase]!;
        using var lc = Golden.Open("loss_cases.safetensors");
        using var g = Golden.Open("dit_tiny_cases.safetensors");
        Tensor teacherLogits, studentLogits, xt;
        if (kase == "model")
        {
            teacherLogits = g.Load("tc_off.logits"); studentLogits = g.Load("tc_on.logits"); xt = g.Load("xt");
        }
        else
        {
            teacherLogits = lc.Load("sdtt.rand.teacher_logits"); studentLogits = lc.Load("sdtt.rand.student_logits"); xt = lc.Load("sdtt.rand.xt");
        }
        var rows = xt.eq(999).reshape(-1).nonzero().squeeze(-1);
        var target = Subs.Apply(teacherLogits, xt, 999).reshape(-1, 1000).index_select(0, rows);
        var preds = Subs.Apply(studentLogits, xt, 999).reshape(-1, 1000).index_select(0, rows);
        Assert.Equal(values["num_masked_rows"]!.GetValue<int>(), (int)rows.shape[0]);
        foreach (var (name, kind) in new[] { ("kl-fwd", DivergenceKind.ForwardKl), ("kl-bwd", DivergenceKind.ReverseKl), ("mse", DivergenceKind.Mse), ("tvd", DivergenceKind.Tvd) })
        {
            Close(values[$"{name}|loss_precision=None"]!.GetValue<double>(), Divergence.Compute(kind, preds, target).item<float>());
            Close(values[$"{name}|loss_precision=64"]!.GetValue<double>(),
                Divergence.Compute(kind, preds.to(ScalarType.Float64), target.to(ScalarType.Float64)).item<double>());
        }
        Close(values["(unused) tv_dist(preds,target) = 0.5*mean|p-q|_1"]!.GetValue<double>(), Divergence.Compute(DivergenceKind.Tv, preds, target).item<float>());
    }
}
